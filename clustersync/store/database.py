"""This node's replicated SQLite database: versions local changes, sends and applies changes.

Every replicated row has one current version in _cs_rows: (hlc, origin), tombstone or a JSON
copy of the row, and the version it replaced when written (its base, to tell a plain update
from a concurrent one). A member's vector says, per origin, the highest HLC it has; what a
peer lacks is every current version above the peer's vector for its origin.
"""

from __future__ import annotations

import logging
import operator
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core import vector as vectors
from ..core.clock import HybridClock
from ..core.codec import Row
from ..core.errors import ApplyError
from ..core.vector import Vector
from . import capture, checkpoint, conflicts, quarantine, reads, rowstate
from .applying import Applier, highest
from .changes import ApplyResult, Change, Snapshot
from .reads import Member
from .schema import MEMBERS, TableInfo, connect, install, table_info

logger = logging.getLogger(__name__)

_DATA = operator.itemgetter(5)  # a Change's row copy


class Store:
    """One node's replicated database; safe to share between threads."""

    # False: whole-row last-writer-wins on apply (the path before issue 19), kept only so that
    # bench/sync.py can measure what the column merge costs; never set in production.
    column_merge = True
    # False: row by row (applying.Applier.each) instead of reading and writing a batch's rows
    # together; the property tests compare both, the bench measures the difference.
    batch_apply = True

    def __init__(
        self,
        path: Path,
        node_id: str,
        tables: list[str],
        clock: Callable[[], float] = time.time,
        where: str = "cluster.tables",
    ) -> None:
        self.path = path
        self.node_id = node_id
        self.clock = clock
        self._lock = threading.RLock()
        self._applier = Applier(self)
        self.db = connect(str(path))
        self.db.execute(f"PRAGMA wal_autocheckpoint={checkpoint.BACKSTOP}")
        self.checkpoints = checkpoint.Checkpointer(str(path))  # copies the log back on its own thread
        # A row's JSON copy in _cs_rows must fit SQLite's value limit (1e9 bytes by default:
        # BLOBs up to about 700 MiB, as base64): a larger row is left out, said, and counted.
        self.max_copy = self.db.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) - 1024
        with self._write() as db:
            self.tables: dict[str, TableInfo] = install(self.db, tables, where)
            for info in self.tables.values():
                rowstate.fill_added(db, info)
        self.hlc = HybridClock(max(int(self.meta("hlc") or 0), max(self.vector().values(), default=0)))

    def close(self) -> None:
        """Close the database."""
        self.checkpoints.close()
        self.db.close()

    def _read(self, sql: str, params: Any = ()) -> list[Any]:
        # One connection is shared by the loop and the servers' threads: one user at a time.
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:  # SQLite already rolled back after some errors (disk full)
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # ------------------------------------------------------------ metadata

    def meta(self, key: str) -> Any:
        """A value of _cs_meta, or None."""
        with self._lock:
            return reads.meta(self.db, key)

    def set_meta(self, key: str, value: Any, db: sqlite3.Connection | None = None) -> None:
        """Set a value of _cs_meta (inside the caller's transaction when db is given)."""
        sql = "INSERT OR REPLACE INTO _cs_meta (key, value) VALUES (?, ?)"
        if db is not None:
            db.execute(sql, (key, value))
        else:
            with self._write() as conn:
                conn.execute(sql, (key, value))

    def _bump(self, db: sqlite3.Connection, key: str, by: int) -> None:
        if by:
            db.execute(
                "INSERT INTO _cs_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                (key, by),
            )

    def counter(self, key: str) -> int:
        """A counter kept in _cs_meta (applied, duplicates, conflicts...)."""
        return int(self.meta(key) or 0)

    def vector(self) -> Vector:
        """This node's version vector."""
        with self._lock:
            return reads.vector(self.db)

    def now_ms(self) -> int:
        """This node's clock in ms (test offset included)."""
        return int(self.clock() * 1000)

    # ------------------------------------------------------------ local changes

    def pending(self) -> int:
        """How many captured changes wait for a version."""
        with self._lock:
            return reads.pending(self.db)

    def stamp(self) -> list[Change]:
        """Give every captured local change its version; return the new versions."""
        if not self._read("SELECT 1 FROM _cs_pending LIMIT 1"):
            return []
        with self._write() as db:
            return self._stamp(db)

    def _stamp(self, db: sqlite3.Connection) -> list[Change]:
        return capture.stamp(self, db)

    def backfill(self) -> int:
        """Capture every existing row of the replicated tables (the data becomes the cluster's)."""
        with self._write() as db:
            count = capture.note_all(self, db)
            self._stamp(db)
        return count

    # ------------------------------------------------------------ sending

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A consistent read (its own connection, WAL snapshot) for streaming to a peer."""
        db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN")
            snap = Snapshot(db, dict(db.execute("SELECT origin, hlc FROM _cs_vector").fetchall()))
            yield snap
            db.execute("COMMIT")
        finally:
            db.close()

    # ------------------------------------------------------------ applying

    def apply(self, changes: list[Change], final: Vector | None = None) -> ApplyResult:
        """Apply a batch from a peer in one transaction, with the vector it advances.

        A change this database refuses (a constraint, a column it lacks) is quarantined: its
        version is recorded, so it still flows on to the other members, and the row is written
        when quarantine.retry finds the cause fixed. Any other database error (disk full...)
        rolls the whole batch back and is raised as ApplyError saying what it is.
        """
        result = ApplyResult()
        if not changes and not self._advances(final or {}):
            return result  # an idle session's end: nothing to write (no lock, no fsync)
        try:
            with self._write() as db:
                # Local writes not yet versioned must compete with what arrives.
                result.stamped = self._stamp(db)
                current = self.vector()
                if changes:
                    db.execute("UPDATE _cs_flag SET applying = 1")
                    held = quarantine.count(db)
                    if self.batch_apply:
                        self._applier.batch(db, changes, result, current, held)
                    else:
                        self._applier.each(db, changes, result, current, held)
                    db.execute("UPDATE _cs_flag SET applying = 0")
                advanced = highest(changes)
                if result.max_own:  # rows merged into a new version here (Store._merge)
                    advanced = vectors.advance(advanced, [(self.node_id, result.max_own)])
                if final:
                    advanced = vectors.merge(advanced, final)
                for origin, hlc in advanced.items():
                    if hlc > current.get(origin, 0):
                        db.execute(
                            "INSERT OR REPLACE INTO _cs_vector (origin, hlc) VALUES (?, ?)", (origin, hlc)
                        )
                self.hlc.observe(result.max_hlc)
                self.set_meta("hlc", self.hlc.last, db)
                for key in ("applied", "duplicates", "conflicts", "stale", "quarantined"):
                    self._bump(db, key, getattr(result, key))
        except sqlite3.Error as exc:
            raise ApplyError(f"applying changes to {self.path}: {quarantine.describe(exc)}") from exc
        # Each row went to the log twice (the table, its copy in _cs_rows), with its keys and indexes.
        self.checkpoints.wrote(2 * sum(map(len, filter(None, map(_DATA, changes)))) + 128 * len(changes))
        return result

    def _advances(self, final: Vector) -> bool:
        """Whether a peer's final vector (or local notes waiting for a version) would change anything."""
        with self._lock:
            if self.db.execute("SELECT 1 FROM _cs_pending LIMIT 1").fetchone():
                return True
            current = reads.vector(self.db)
        return any(hlc > current.get(origin, 0) for origin, hlc in final.items())

    def schema_version(self) -> int:
        """The schema version `clustersync migrate` gave this database (0: never migrated)."""
        return int(self.meta("schema_version") or 0)

    def open_conflicts(self) -> dict[str, int]:
        """Unacknowledged conflict log entries by kind (insert, column, row)."""
        with self._lock:
            return conflicts.unacknowledged(self.db)

    def retry_quarantined(self) -> tuple[int, int]:
        """Try the quarantined changes again; return (written, still held)."""
        if not self._read("SELECT 1 FROM _cs_quarantine LIMIT 1"):
            return 0, 0
        with self._write() as db:
            db.execute("UPDATE _cs_flag SET applying = 1")
            written = quarantine.retry(
                db, lambda tbl: self.refresh(db, tbl) if tbl in self.tables else None, self._write_row
            )
            db.execute("UPDATE _cs_flag SET applying = 0")
            self._bump(db, "released", written)
            return written, quarantine.count(db)

    def _write_row(self, db: sqlite3.Connection, info: TableInfo, c: Change, row: Row | None = None) -> None:
        """Write one version's row (upsert: columns the sender lacks keep their value)."""
        self._applier.write_row(db, info, c, row)

    def refresh(self, db: sqlite3.Connection, name: str) -> TableInfo:
        """Re-read a table's columns (the application may have added one since the start)."""
        self.tables[name] = table_info(db, name, "cluster.tables")
        rowstate.fill_added(db, self.tables[name])
        return self.tables[name]

    # ------------------------------------------------------------ members

    def members(self) -> list[Member]:
        """Every member in ring order, with its effective (unique) position (ring.effective_positions)."""
        with self._lock:
            return reads.members(self.db)

    def add_member(self, m: Member) -> None:
        """Record a member (as a local change, so it replicates) and version it now."""
        with self._write() as db:
            db.execute(
                f"INSERT OR REPLACE INTO {MEMBERS} (node_id, address, port, data_port, position, version) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (m.node_id, m.address, m.port, m.data_port, m.position, m.version),
            )
            self._stamp(db)

    # ------------------------------------------------------------ what the others have, and GC

    def known(self) -> dict[str, Vector]:
        """The last vector heard of each member (this node's own is current)."""
        with self._lock:
            return reads.known(self.db, self.node_id)

    def learn(self, known: dict[str, Vector]) -> None:
        """Merge vectors of other members heard from a peer (no write when nothing is new)."""
        had = self.known()
        news = {
            member: {o: h for o, h in vec.items() if h > had.get(member, {}).get(o, -1)}
            for member, vec in known.items()
            if member != self.node_id
        }
        if not any(news.values()):
            return
        with self._write() as db:
            for member, vec in news.items():
                for origin, hlc in vec.items():
                    db.execute(
                        "INSERT INTO _cs_known (member, origin, hlc) VALUES (?, ?, ?) "
                        "ON CONFLICT (member, origin) DO UPDATE SET hlc = max(hlc, excluded.hlc)",
                        (member, origin, hlc),
                    )

    def gc(self) -> int:
        """Drop tombstones every member has (member rows' kept); trim old conflicts; rows dropped."""
        ids = [m.node_id for m in self.members()]
        known = self.known()
        if not ids or any(i not in known for i in ids):
            return 0
        floor = vectors.floor(known[i] for i in ids)
        with self._write() as db:
            dropped = 0
            for origin, hlc in floor.items():
                # Member rows' tombstones stay: a member removed while offline longer than this
                # must still be told it was removed when it comes back (control.removed_refusal).
                dropped += db.execute(
                    "DELETE FROM _cs_rows WHERE deleted = 1 AND origin = ? AND hlc <= ? AND tbl != ?",
                    (origin, hlc, MEMBERS),
                ).rowcount
            conflicts.trim(db)
        return dropped
