"""Shared helpers for clustersync tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from clustersync.store.database import Store

ITEMS = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, v TEXT, n REAL, b BLOB)"
PAIRS = "CREATE TABLE IF NOT EXISTS pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b))"


def make_db(path: Path) -> Path:
    """Create an application database with two replicated tables and a local one."""
    db = sqlite3.connect(path)
    db.execute(ITEMS)
    db.execute(PAIRS)
    db.execute("CREATE TABLE IF NOT EXISTS local_settings (k TEXT PRIMARY KEY, v TEXT)")
    db.commit()
    db.close()
    return path


def open_store(path: Path, node_id: str) -> Store:
    """A store on a fresh application database."""
    return Store(make_db(path), node_id, ["items", "pairs"])


def content(path: Path, table: str = "items") -> dict[object, tuple[object, ...]]:
    """A table's rows by primary key, read over a plain connection."""
    db = sqlite3.connect(path)
    try:
        return {row[0]: tuple(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY 1")}
    finally:
        db.close()


def sync_one_way(src: Store, dst: Store, batch: int = 1000, stop_after: int | None = None) -> None:
    """Stream what dst lacks from src, as a session does (stop_after: batches, then crash)."""
    with src.snapshot() as snap:
        for count, changes in enumerate(snap.batches(dst.vector(), batch)):
            if stop_after is not None and count >= stop_after:
                return
            dst.apply(changes)
        dst.apply([], snap.vector)


# The session's private PostgreSQL (test_shared); imported last: postgres.py imports nodes.py,
# which imports this module.
from .postgres import postgres  # noqa: E402,F401
