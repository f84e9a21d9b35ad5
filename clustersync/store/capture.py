"""Versioning local changes: the triggers' notes in _cs_pending become versions in _cs_rows.

The capture triggers (schema.py) note only which row changed and when; here each noted row
gets one new version per stamp (its last change wins), with the row as it now is: its state
(merge.write: which columns changed since its previous version) stored in _cs_rows and
sent to the peers. Runs inside the caller's write transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from ..core.codec import encode_key
from ..core.merge import write
from . import rowstate
from .changes import Change
from .schema import KEY_COLUMNS, quote

if TYPE_CHECKING:
    from .database import Store

logger = logging.getLogger(__name__)

_LOCAL = (
    "SELECT hlc, origin, deleted, data, base_hlc, base_origin, clocks FROM _cs_rows WHERE tbl = ? AND pk = ?"
)


def stamp(store: Store, db: sqlite3.Connection) -> list[Change]:
    """Give every captured local change its version; return the new versions."""
    rows = db.execute(
        f"SELECT seq, tbl, wall, {', '.join(KEY_COLUMNS)} FROM _cs_pending ORDER BY seq"
    ).fetchall()
    if not rows:
        return []
    latest: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}
    for _, tbl, wall, *keys in rows:
        info = store.tables.get(tbl)
        if info is None:
            continue  # a table no longer replicated: its old triggers' notes are dropped
        values = tuple(keys[: len(info.pk)])
        pk = encode_key(values)
        latest.pop((tbl, pk), None)  # keep the order of each row's last change
        latest[(tbl, pk)] = (wall, values)
    offset = store.now_ms() - int(time.time() * 1000)  # the test clock offset, if any
    out = []
    columns: dict[str, tuple[str, ...]] = {}
    for (tbl, pk), (wall, values) in latest.items():
        info = store.tables[tbl]
        hlc = store.hlc.tick(wall + offset)
        where = " AND ".join(f"{quote(c)} IS ?" for c in info.pk)
        found = db.execute(f"SELECT * FROM {quote(tbl)} WHERE {where}", values).fetchone()
        if found is not None and tbl not in columns:
            columns[tbl] = tuple(d[0] for d in db.execute(f"SELECT * FROM {quote(tbl)} LIMIT 0").description)
        now = None if found is None else dict(zip(columns[tbl], found, strict=True))
        local = db.execute(_LOCAL, (tbl, pk)).fetchone()
        state = write(rowstate.state(local), now, (hlc, store.node_id))
        if state is None:
            continue  # nothing replicated changed (same values, or a row born and gone between stamps)
        change = rowstate.change(tbl, pk, (hlc, store.node_id), state)
        if len(change.data or "") > store.max_copy:  # ASCII JSON: characters are bytes
            logger.error("%s key %s: its copy (%d bytes) is above SQLite's limit: not replicated",
                         tbl, pk[:80], len(change.data or ""))  # fmt: skip
            store._bump(db, "too_large", 1)
            continue
        rowstate.put(db, change)
        out.append(change)
    db.execute("DELETE FROM _cs_pending WHERE seq <= ?", (rows[-1][0],))
    if out:
        db.execute(
            "INSERT OR REPLACE INTO _cs_vector (origin, hlc) VALUES (?, ?)", (store.node_id, out[-1].hlc)
        )
    store.set_meta("hlc", store.hlc.last, db)
    return out


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
