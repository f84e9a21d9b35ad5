"""Versioning local changes: the triggers' notes in _cs_pending become versions in _cs_rows.

The capture triggers (schema.py) note only which row changed and when; here each noted row
gets one new version per stamp (its last change wins), with the row as it now is: its state
(merge.write: which columns changed since its previous version) stored in _cs_rows and
sent to the peers. Runs inside the caller's write transaction.

Two paths give the same result: `stamp` reads the noted rows and their current versions a
chunk of keys per query and stores the new versions with few statements (a bulk write
notes thousands of rows), `each` reads and writes row by row (the reference the property
tests compare with). `each` reads a row with `key IS ?`; the batch joins a chunk's keys
(VALUES) to the table on the same comparison, so a key's type affinity and collation find
the same row; a key holding NULL (which `IS` matches in more than one row of a rowid
table) is read alone, as `each` reads it.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..core.codec import Row, encode_key
from ..core.merge import write
from . import bulk, rowstate
from .changes import Change
from .schema import KEY_COLUMNS, TableInfo, quote

if TYPE_CHECKING:
    from .database import Store

logger = logging.getLogger(__name__)

_COLUMNS = "hlc, origin, deleted, data, base_hlc, base_origin, clocks"
_LOCAL = f"SELECT {_COLUMNS} FROM _cs_rows WHERE tbl = ? AND pk = ?"
_CHUNK = 256  # keys read per query
_SLICE = 10_000  # notes read at a time: one slice's rows in memory, not a whole backfill's

_ROW = itemgetter(0, 1)  # a version's table and key

Note = tuple[str, str, int, tuple[Any, ...]]  # a noted row: table, key, wall time, key values


def stamp(store: Store, db: sqlite3.Connection) -> list[Change]:
    """Give every captured local change its version; return the new versions."""
    noted = _noted(store, db)
    if noted is None:
        return []
    last, notes = noted
    offset = store.now_ms() - int(time.time() * 1000)  # the test clock offset, if any
    tick = store.hlc.tick
    out: list[Change] = []
    for start in range(0, len(notes), _SLICE):
        part = notes[start : start + _SLICE]
        rows, locals_ = _rows(store, db, part), _locals(db, part)
        for (tbl, pk, wall, _), now in zip(part, rows, strict=True):
            change = _version(store, db, tbl, pk, tick(wall + offset), locals_.get((tbl, pk)), now)
            if change is not None:
                out.append(change)
    rowstate.put_many(db, sorted(out, key=_ROW))  # in key order: B-tree pages filled in turn
    _finish(store, db, last, out)
    return out


def each(store: Store, db: sqlite3.Connection) -> list[Change]:
    """`stamp` row by row: one query for each row, one for its version, one to store the new one."""
    noted = _noted(store, db)
    if noted is None:
        return []
    last, notes = noted
    offset = store.now_ms() - int(time.time() * 1000)
    out = []
    columns: dict[str, tuple[str, ...]] = {}
    for tbl, pk, wall, values in notes:
        info = store.tables[tbl]
        hlc = store.hlc.tick(wall + offset)
        found = db.execute(_one_sql(info), values).fetchone()
        if found is not None and tbl not in columns:
            columns[tbl] = _columns(db, info)
        now = None if found is None else dict(zip(columns[tbl], found, strict=True))
        change = _version(store, db, tbl, pk, hlc, db.execute(_LOCAL, (tbl, pk)).fetchone(), now)
        if change is not None:
            rowstate.put(db, change)
            out.append(change)
    _finish(store, db, last, out)
    return out


def _noted(store: Store, db: sqlite3.Connection) -> tuple[int, list[Note]] | None:
    """The last note's seq and the noted rows, each once, in the order of its last change."""
    ends = {name: 3 + len(info.pk) for name, info in store.tables.items()}  # a note's key: row[3:end]
    width = max(ends.values(), default=4) - 3  # only the key columns some table uses
    rows = db.execute(
        f"SELECT seq, tbl, wall, {', '.join(KEY_COLUMNS[:width])} FROM _cs_pending ORDER BY seq"
    ).fetchall()
    if not rows:
        return None
    latest: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}
    for row in reversed(rows):  # a row's last note first: the one kept
        end = ends.get(row[1])
        if end is None:
            continue  # a table no longer replicated: its old triggers' notes are dropped
        values = row[3:end]
        key = (row[1], encode_key(values))
        if key not in latest:
            latest[key] = (row[2], values)
    # In the order of each row's last note.
    notes = [(tbl, pk, wall, values) for (tbl, pk), (wall, values) in reversed(latest.items())]
    return rows[-1][0], notes


def _version(
    store: Store, db: sqlite3.Connection, tbl: str, pk: str, hlc: int, local: Any, now: Row | None
) -> Change | None:
    """A noted row's new version given its current one and the row as it is now; None if none."""
    state = write(rowstate.state(local), now, (hlc, store.node_id))
    if state is None:
        return None  # nothing replicated changed (same values, or a row born and gone between stamps)
    change = rowstate.change(tbl, pk, (hlc, store.node_id), state)
    if len(change.data or "") > store.max_copy:  # ASCII JSON: characters are bytes
        logger.error("%s key %s: its copy (%d bytes) is above SQLite's limit: not replicated",
                     tbl, pk[:80], len(change.data or ""))  # fmt: skip
        store._bump(db, "too_large", 1)
        return None
    return change


def _finish(store: Store, db: sqlite3.Connection, last: int, out: list[Change]) -> None:
    """Drop the notes versioned, advance this member's own entry of the vector and the clock."""
    db.execute("DELETE FROM _cs_pending WHERE seq <= ?", (last,))
    if out:
        db.execute(
            "INSERT OR REPLACE INTO _cs_vector (origin, hlc) VALUES (?, ?)", (store.node_id, out[-1].hlc)
        )
    store.set_meta("hlc", store.hlc.last, db)


def _rows(store: Store, db: sqlite3.Connection, notes: list[Note]) -> list[Row | None]:
    """The noted rows as they are now (None: gone), in the order of the notes."""
    out: list[Row | None] = [None] * len(notes)
    tables: dict[str, list[int]] = {}
    for i, note in enumerate(notes):
        tables.setdefault(note[0], []).append(i)
    for tbl, indexes in tables.items():
        info = store.tables[tbl]
        columns = _columns(db, info)
        plain = []
        for i in indexes:
            values = notes[i][3]
            if None in values:  # `IS NULL` may match several rows: read as `each` does
                found = db.execute(_one_sql(info), values).fetchone()
                out[i] = None if found is None else dict(zip(columns, found, strict=True))
            else:
                plain.append(i)
        per = min(_CHUNK, bulk.VARIABLES // (len(info.pk) + 1))
        for start in range(0, len(plain), per):
            chunk = plain[start : start + per]
            size = _size(len(chunk), per)
            chunk += [chunk[0]] * (size - len(chunk))  # the first key again: its row read twice, kept once
            params = [x for i in chunk for x in (i, *notes[i][3])]
            for found in db.execute(_chunk_sql(info, size), params):
                out[found[-1]] = dict(zip(columns, found, strict=False))  # (the last: the note's index)
    return out


def _locals(db: sqlite3.Connection, notes: list[Note]) -> dict[tuple[str, str], Any]:
    """The current versions (_cs_rows) of the noted rows, by (table, key)."""
    keys: dict[str, list[str]] = {}
    for tbl, pk, _, _ in notes:
        keys.setdefault(tbl, []).append(pk)
    found: dict[tuple[str, str], Any] = {}
    for tbl, pks in keys.items():
        for start in range(0, len(pks), _CHUNK):
            chunk: list[str | None] = [*pks[start : start + _CHUNK]]
            size = _size(len(chunk), _CHUNK)
            chunk += [None] * (size - len(chunk))
            for row in db.execute(_locals_sql(size), (tbl, *chunk)):
                found[(tbl, row[7])] = row
    return found


def _size(n: int, per: int) -> int:
    """The statement size for a chunk of n keys: n up to a power of two (at most per), so that
    a few statements, each prepared once and kept in the connection's cache, serve every chunk."""
    return min(per, 1 << (n - 1).bit_length())


def _columns(db: sqlite3.Connection, info: TableInfo) -> tuple[str, ...]:
    """The table's columns as `SELECT *` returns them."""
    return tuple(d[0] for d in db.execute(f"SELECT * FROM {quote(info.name)} LIMIT 0").description)


@functools.cache
def _one_sql(info: TableInfo) -> str:
    where = " AND ".join(f"{quote(c)} IS ?" for c in info.pk)
    return f"SELECT * FROM {quote(info.name)} WHERE {where}"


@functools.cache
def _chunk_sql(info: TableInfo, rows: int) -> str:
    """The rows of a chunk of keys, each with its note's index: (index, key values...) joined
    to the table on `key IS value`, the comparison `each` makes."""
    group = "(" + ", ".join("?" * (len(info.pk) + 1)) + ")"
    on = " AND ".join(f"_cs_t.{quote(c)} IS _cs_k.column{i + 2}" for i, c in enumerate(info.pk))
    return (
        f"SELECT _cs_t.*, _cs_k.column1 FROM (VALUES {', '.join([group] * rows)}) AS _cs_k "
        f"CROSS JOIN {quote(info.name)} AS _cs_t ON {on}"  # CROSS: the keys drive, the table is searched
    )


@functools.cache
def _locals_sql(rows: int) -> str:
    return f"SELECT {_COLUMNS}, pk FROM _cs_rows WHERE tbl = ? AND pk IN ({', '.join('?' * rows)})"


def note_all(store: Store, db: sqlite3.Connection) -> int:
    """Note every existing row of the replicated tables as changed (backfill); return how many."""
    count = 0
    for info in store.tables.values():
        keys = ", ".join(quote(c) for c in info.pk)
        count += db.execute(
            f"INSERT INTO _cs_pending (tbl, wall, {', '.join(KEY_COLUMNS[: len(info.pk)])}) "
            f"SELECT ?, ?, {keys} FROM {quote(info.name)}",
            (info.name, int(time.time() * 1000)),
        ).rowcount
    return count
