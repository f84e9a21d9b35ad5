"""A row's merge state (merge.py) read from and written to _cs_rows, and columns added since.

_cs_rows keeps, per row, its version (the label it is stored and sent under), the row's
JSON copy, its incarnation's base and its clocks (merge.encode_clocks); these turn one into
the other. fill_added gives a column the application added to a replicated table the
values the rows' copies hold: a member that gets the column after others (ALTER TABLE
before its restart, or `clustersync migrate`) does not lose what they wrote into it.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from ..core.codec import decode_key, decode_stored, encode_json
from ..core.merge import RowState, Version, decode_clocks, encode_clocks
from . import bulk, reads
from .changes import Change
from .schema import TableInfo, quote


def state(row: Any) -> RowState | None:
    """A row's state from its _cs_rows columns (hlc, origin, deleted, data, base_hlc,
    base_origin, clocks), or None."""
    if row is None:
        return None
    values = None if row[3] is None else decode_stored(row[3])
    return decode_clocks(row[6], (row[0], row[1]), values, (row[4], row[5]))


def change(tbl: str, pk: str, label: Version, s: RowState) -> Change:
    """The change that stores and sends a row's state under a version."""
    data = None
    if s.alive and s.values is not None:
        data = encode_json(s.values)  # the same text as encode_row, without rebuilding the dict
    return Change(tbl, pk, *label, data is None, data, *s.born_base, encode_clocks(s, label))


def fill_added(db: sqlite3.Connection, info: TableInfo) -> None:
    """Columns added to a table since last seen take the values the rows' copies hold, without
    being captured again (inside the caller's write transaction)."""
    key = f"columns:{info.name}"
    seen = reads.meta(db, key)
    before = None if seen is None else decode_stored(seen)
    if before == list(info.columns):
        return
    added = [c for c in info.columns if before is not None and c not in before]
    if added:
        sets = ", ".join(f"{quote(c)} = ?" for c in added)
        where = " AND ".join(f"{quote(c)} IS ?" for c in info.pk)
        sql = f"UPDATE {quote(info.name)} SET {sets} WHERE {where}"
        db.execute("UPDATE _cs_flag SET applying = 1")
        copies = db.execute("SELECT pk, data FROM _cs_rows WHERE tbl = ? AND deleted = 0", (info.name,))
        for pk, data in copies.fetchall():
            row = decode_stored(data)
            if any(c in row for c in added):
                db.execute(sql, [row.get(c) for c in added] + decode_key(pk, len(info.pk)))
        db.execute("UPDATE _cs_flag SET applying = 0")
    db.execute("INSERT OR REPLACE INTO _cs_meta (key, value) VALUES (?, ?)", (key, encode_json(info.columns)))


_INTO = "INTO _cs_rows (tbl, pk, hlc, origin, deleted, data, base_hlc, base_origin, clocks) "


@functools.cache
def _put(rows: int) -> str:
    return "INSERT OR REPLACE " + _INTO + bulk.values(len(Change._fields), rows)


@functools.cache
def _add(rows: int) -> str:
    return "INSERT " + _INTO + bulk.values(len(Change._fields), rows)


_PUT = _put(1)


def put(db: sqlite3.Connection, c: Change) -> None:
    """Store a version as the row's current one."""
    db.execute(_PUT, c)  # a Change's fields are _cs_rows' columns, in order (deleted: bool binds as 0/1)


def put_many(db: sqlite3.Connection, changes: list[Change]) -> None:
    """Store versions of distinct rows as their current ones."""
    bulk.executemany(db, _put, changes)


def add_many(db: sqlite3.Connection, changes: list[Change]) -> None:
    """Store the first versions of distinct rows; sqlite3.IntegrityError if one has a version
    already (the statement that found it is undone whole, the ones before it are not)."""
    bulk.executemany(db, _add, changes)
