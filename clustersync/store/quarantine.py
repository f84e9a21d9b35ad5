"""Changes from peers that this database refused, held until the cause is fixed.

A change is quarantined when writing its row breaks one of this database's constraints
(UNIQUE on another column, CHECK, NOT NULL, a foreign key) or names a column this table
lacks. Its version is still recorded in _cs_rows (so it flows on to the other members, whose
data may well accept it) and the vector advances (so everything behind it keeps flowing);
_cs_quarantine says which row here lacks its current version and why. `retry` (every round)
writes it once the cause is gone, and drops it when a newer version of the row has come.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.errors import ApplyError
from .changes import Change

if TYPE_CHECKING:
    from .schema import TableInfo

SHOWN = 20  # quarantined changes listed by status


def describe(exc: BaseException) -> str:
    """What a database error during apply is, in words (not "database unreachable")."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return f"constraint violation: {text}"
    if isinstance(exc, ApplyError):
        return text
    code = getattr(exc, "sqlite_errorname", "")
    if code == "SQLITE_FULL" or "disk is full" in text:
        return f"disk full: {text}"
    if code in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in text:
        return f"database busy: {text}"
    if code == "SQLITE_READONLY" or "readonly" in text:
        return f"database read-only: {text}"
    return f"database error: {text}"


def count(db: sqlite3.Connection) -> int:
    """How many changes are held."""
    return int(db.execute("SELECT count(*) FROM _cs_quarantine").fetchone()[0])


def hold(db: sqlite3.Connection, c: Change, error: str) -> None:
    """Hold a change this database refused."""
    db.execute(
        "INSERT INTO _cs_quarantine (tbl, pk, hlc, origin, error, at, tries) VALUES (?, ?, ?, ?, ?, ?, 1) "
        "ON CONFLICT (tbl, pk) DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin, "
        "error = excluded.error, at = excluded.at, tries = tries + 1",
        (c.tbl, c.pk, c.hlc, c.origin, error, time.time()),
    )


def release(db: sqlite3.Connection, tbl: str, pk: str) -> None:
    """Forget a held change (written, or superseded by a newer version)."""
    db.execute("DELETE FROM _cs_quarantine WHERE tbl = ? AND pk = ?", (tbl, pk))


def retry(
    db: sqlite3.Connection,
    info_of: Callable[[str], TableInfo | None],
    write: Callable[[sqlite3.Connection, TableInfo, Change], None],
) -> int:
    """Write every held change whose cause is gone (inside the caller's transaction); return how many."""
    written = 0
    held = db.execute("SELECT tbl, pk, hlc, origin FROM _cs_quarantine").fetchall()
    for tbl, pk, hlc, origin in held:
        row = db.execute(
            "SELECT hlc, origin, deleted, data, base_hlc, base_origin FROM _cs_rows WHERE tbl = ? AND pk = ?",
            (tbl, pk),
        ).fetchone()
        info = info_of(tbl)
        if row is None or (row[0], row[1]) != (hlc, origin) or info is None:
            release(db, tbl, pk)  # superseded (a newer version was written or held) or no longer replicated
            continue
        change = Change(tbl, pk, row[0], row[1], bool(row[2]), row[3], row[4], row[5])
        try:
            write(db, info, change)
        except (sqlite3.IntegrityError, ApplyError) as exc:
            db.execute(
                "UPDATE _cs_quarantine SET error = ?, tries = tries + 1 WHERE tbl = ? AND pk = ?",
                (describe(exc), tbl, pk),
            )
            continue
        release(db, tbl, pk)
        written += 1
    return written


def listing(db: sqlite3.Connection, limit: int = SHOWN) -> list[dict[str, Any]]:
    """The held changes, oldest first, for status and the HA page."""
    rows = db.execute(
        "SELECT tbl, pk, origin, error, at, tries FROM _cs_quarantine ORDER BY at LIMIT ?", (limit,)
    ).fetchall()
    keys = ("table", "key", "origin", "error", "since", "tries")
    return [dict(zip(keys, r, strict=True)) for r in rows]
