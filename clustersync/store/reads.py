"""Reads of clustersync's own tables, shared by the running Store and the read-only view.

`ReadOnly` opens the database with SQLite's mode=ro: `clustersync status`, the dashboard and
the HA page read members, vectors and counters through it, so looking never writes to the
application's file (no trigger reinstall, no schema_version bump, no write lock), works
while the daemon holds a write transaction, and works on a database clustersync never
touched (everything is then empty: not a member).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.ring import effective_positions
from ..core.vector import Vector
from . import quarantine
from .schema import MEMBERS


@dataclass(frozen=True)
class Member:
    """A cluster member as recorded in the replicated members table."""

    node_id: str
    address: str
    port: int
    data_port: int
    position: int
    version: str


def members(db: sqlite3.Connection) -> list[Member]:
    """Every member in ring order, with its effective (unique) position (ring.effective_positions)."""
    rows = db.execute(f"SELECT node_id, address, port, data_port, position, version FROM {MEMBERS}")
    recorded = [Member(*r) for r in rows.fetchall()]
    shown = effective_positions(recorded)
    found = [dataclasses.replace(m, position=shown[m.node_id]) for m in recorded]
    return sorted(found, key=lambda m: m.position)


def vector(db: sqlite3.Connection) -> Vector:
    """The node's version vector."""
    return dict(db.execute("SELECT origin, hlc FROM _cs_vector").fetchall())


def known(db: sqlite3.Connection, node_id: str) -> dict[str, Vector]:
    """The last vector heard of each member (this node's own is current)."""
    out: dict[str, Vector] = {}
    for member, origin, hlc in db.execute("SELECT member, origin, hlc FROM _cs_known").fetchall():
        out.setdefault(member, {})[origin] = hlc
    out[node_id] = vector(db)
    return out


def meta(db: sqlite3.Connection, key: str) -> Any:
    """A value of _cs_meta, or None."""
    row = db.execute("SELECT value FROM _cs_meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def pending(db: sqlite3.Connection) -> int:
    """How many captured changes wait for a version."""
    return int(db.execute("SELECT count(*) FROM _cs_pending").fetchone()[0])


class ReadOnly:
    """The database opened read-only, with the reads `status` needs (empty where nothing is kept)."""

    def __init__(self, path: Path, node_id: str) -> None:
        self.node_id = node_id
        self.db: sqlite3.Connection | None = None
        if path.exists():
            self.db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)

    def close(self) -> None:
        """Close the connection."""
        if self.db is not None:
            self.db.close()

    def __enter__(self) -> ReadOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, read: Any, empty: Any, *args: Any) -> Any:
        if self.db is None:
            return empty
        try:
            return read(self.db, *args)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return empty  # clustersync never installed here (or an older layout)
            raise

    def members(self) -> list[Member]:
        return list(self._get(members, []))

    def vector(self) -> Vector:
        return dict(self._get(vector, {}))

    def known(self) -> dict[str, Vector]:
        return dict(self._get(known, {self.node_id: {}}, self.node_id))

    def meta(self, key: str) -> Any:
        return self._get(meta, None, key)

    def counter(self, key: str) -> int:
        return int(self.meta(key) or 0)

    def pending(self) -> int:
        return int(self._get(pending, 0))

    def conflicts(self, acked: bool = False) -> list[dict[str, Any]]:
        """The conflict log (conflicts.py): unacknowledged entries, or all kept."""
        return list(self._get(_conflict_listing, [], acked))

    def open_conflicts(self) -> dict[str, int]:
        """Unacknowledged conflict log entries by kind."""
        return dict(self._get(_conflict_counts, {}))

    def quarantined(self) -> list[dict[str, Any]]:
        """The changes held by this database's constraints (quarantine.py)."""
        return list(self._get(quarantine.listing, []))


def _conflict_listing(db: sqlite3.Connection, acked: bool) -> list[dict[str, Any]]:
    from .conflicts import listing

    try:
        return listing(db, acked)
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc):
            return []  # a database from before the conflict log's kinds (issue 19), not yet opened by run
        raise


def _conflict_counts(db: sqlite3.Connection) -> dict[str, int]:
    from .conflicts import unacknowledged

    try:
        return unacknowledged(db)
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc):
            return {}
        raise
