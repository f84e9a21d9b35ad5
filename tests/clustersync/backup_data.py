"""Test data for backup and restore: a history table, awkward values, row-by-row dumps."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .nodes import NodeDir

TABLES = "{replicated: [items, pairs, calls], history: [calls]}"
CALLS = "CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, at REAL, who TEXT, note BLOB)"
APP_TABLES = ("items", "pairs", "calls", "local_settings")
REPLICATED = ("items", "pairs", "calls")


def prepare(node: NodeDir) -> None:
    """Add the history table to a test node's database and config."""
    db = sqlite3.connect(node.db)
    db.execute(CALLS)
    db.commit()
    db.close()
    node.write_config(tables=TABLES)


def fill(path: Path, start: int, count: int, tag: str = "") -> None:
    """Write rows with unicode, NULLs, blobs and reals into every application table."""
    db = sqlite3.connect(path)
    with db:
        for i in range(start, start + count):
            text = None if i % 7 == 0 else f"{tag}élément {i} ✓ 漢字 'quote\" \x00nul"
            blob = None if i % 5 == 0 else bytes([i % 256, 0, 255]) * (i % 4 + 1)
            db.execute(
                "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)", (i, text, i / 3 if i % 3 else None, blob)
            )
            db.execute("INSERT OR REPLACE INTO pairs VALUES (?, ?, ?)", (f"{tag}k{i % 10}", i, text))
            db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)", (i, 1.7e9 + i, f"{tag}☎ {i}", blob)
            )
            db.execute("INSERT OR REPLACE INTO local_settings VALUES (?, ?)", (f"{tag}setting{i}", text))


def dump(path: Path, tables: tuple[str, ...] = APP_TABLES) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables, ordered by all columns (compared row by row).

    Opened read-write, as any reader would: after a process killed mid-write, the first
    reader recovers the WAL, which a read-only connection cannot do ("attempt to write a
    readonly database")."""
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
    finally:
        db.close()
