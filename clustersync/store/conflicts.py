"""The conflict log (_cs_conflicts): values overwritten by concurrent writes, kept until acknowledged.

merge.py decides; this records each overwritten value once per member (the loser and the
winner, both versions), lists what is not yet acknowledged for `clustersync conflicts`,
the status and the HA page, and acknowledges entries. Acknowledged entries are trimmed by
Store.gc beyond the newest KEEP; unacknowledged ones stay until someone looks at them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..core.codec import _ROW
from ..core.merge import Lost

KEEP = 10000  # acknowledged entries kept
_SEEN = (
    "SELECT 1 FROM _cs_conflicts "
    "WHERE tbl = ? AND pk = ? AND kind = ? AND col IS ? AND hlc = ? AND origin = ?"
)
_ADD = (
    "INSERT INTO _cs_conflicts (tbl, pk, hlc, origin, deleted, data, winner_hlc, winner_origin, at, "
    "kind, col, winner_data) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)"
)
FIELDS = (
    "id", "table", "key", "kind", "column", "loser_hlc", "loser_origin", "loser", "winner_hlc",
    "winner_origin", "winner", "at", "acked",
)  # fmt: skip


def _json(values: dict[str, Any] | None) -> str | None:
    return None if values is None else _ROW.encode(values)


def record(db: sqlite3.Connection, tbl: str, pk: str, lost: Iterable[Lost]) -> int:
    """Log overwritten values not logged yet (inside the caller's transaction); return how many."""
    added = 0
    for x in lost:
        if db.execute(_SEEN, (tbl, pk, x.kind, x.column, *x.loser)).fetchone():
            continue
        db.execute(
            _ADD,
            (tbl, pk, *x.loser, _json(x.loser_values), *x.winner, time.time(), x.kind, x.column,
             _json(x.winner_values)),
        )  # fmt: skip
        added += 1
    return added


def listing(db: sqlite3.Connection, acked: bool = False) -> list[dict[str, Any]]:
    """The conflict log, oldest first: the unacknowledged entries (or every entry kept)."""
    rows = db.execute(
        "SELECT id, tbl, pk, kind, col, hlc, origin, data, winner_hlc, winner_origin, winner_data, at, acked "
        "FROM _cs_conflicts " + ("" if acked else "WHERE acked = 0 ") + "ORDER BY id"
    ).fetchall()
    return [dict(zip(FIELDS, r, strict=True)) for r in rows]


def unacknowledged(db: sqlite3.Connection) -> dict[str, int]:
    """How many entries wait for acknowledgement, by kind (insert, column, row)."""
    rows = db.execute("SELECT kind, count(*) FROM _cs_conflicts WHERE acked = 0 GROUP BY kind").fetchall()
    return {str(k): int(n) for k, n in rows}


def acknowledge(db: sqlite3.Connection, ids: Sequence[int] | None) -> int:
    """Mark entries acknowledged (None: all); return how many were open."""
    if ids is None:
        return db.execute("UPDATE _cs_conflicts SET acked = 1 WHERE acked = 0").rowcount
    marks = ", ".join("?" for _ in ids)
    return db.execute(
        f"UPDATE _cs_conflicts SET acked = 1 WHERE acked = 0 AND id IN ({marks})", list(ids)
    ).rowcount


def trim(db: sqlite3.Connection, keep: int = KEEP) -> None:
    """Drop acknowledged entries beyond the newest `keep`."""
    db.execute(
        "DELETE FROM _cs_conflicts WHERE acked = 1 AND id <= "
        "(SELECT max(id) FROM _cs_conflicts WHERE acked = 1) - ?",
        (keep,),
    )
