"""This node's replicated SQLite database: versions local changes, sends and applies changes.

Every replicated row has one current version in _cs_rows: (hlc, origin), tombstone or a JSON
copy of the row, and the version it replaced when written (its base, to tell a plain update
from a concurrent one). A member's vector says, per origin, the highest HLC it has; what a
peer lacks is every current version above the peer's vector for its origin.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core import vector as vectors
from ..core.clock import HybridClock
from ..core.codec import Row, decode_key, decode_row, encode_key
from ..core.errors import ApplyError
from ..core.merge import decode_clocks, merge, write
from ..core.vector import Vector
from . import conflicts, quarantine, reads, rowstate
from .changes import ApplyResult, Change, Snapshot
from .reads import Member
from .schema import KEY_COLUMNS, MEMBERS, TableInfo, connect, install, quote, table_info, upsert_sql

logger = logging.getLogger(__name__)

_VERSION = "SELECT hlc, origin FROM _cs_rows WHERE tbl = ? AND pk = ?"
_LOCAL = (
    "SELECT hlc, origin, deleted, data, base_hlc, base_origin, clocks FROM _cs_rows WHERE tbl = ? AND pk = ?"
)


class Store:
    """One node's replicated database; safe to share between threads."""

    # False: whole-row last-writer-wins on apply (the path before issue 19), kept only so that
    # bench/sync.py can measure what the column merge costs; never set in production.
    column_merge = True

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
        self._upserts: dict[tuple[str, tuple[str, ...]], str] = {}  # SQL per table and column set
        self._values: Row | None = None  # the applied row's values when the merge decoded them already
        self.db = connect(str(path))
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
        rows = db.execute(
            f"SELECT seq, tbl, wall, {', '.join(KEY_COLUMNS)} FROM _cs_pending ORDER BY seq"
        ).fetchall()
        if not rows:
            return []
        latest: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}
        for _, tbl, wall, *keys in rows:
            info = self.tables.get(tbl)
            if info is None:
                continue  # a table no longer replicated: its old triggers' notes are dropped
            values = tuple(keys[: len(info.pk)])
            pk = encode_key(values)
            latest.pop((tbl, pk), None)  # keep the order of each row's last change
            latest[(tbl, pk)] = (wall, values)
        offset = self.now_ms() - int(time.time() * 1000)  # the test clock offset, if any
        out = []
        columns: dict[str, tuple[str, ...]] = {}
        for (tbl, pk), (wall, values) in latest.items():
            info = self.tables[tbl]
            hlc = self.hlc.tick(wall + offset)
            where = " AND ".join(f"{quote(c)} IS ?" for c in info.pk)
            found = db.execute(f"SELECT * FROM {quote(tbl)} WHERE {where}", values).fetchone()
            if found is not None and tbl not in columns:
                columns[tbl] = tuple(
                    d[0] for d in db.execute(f"SELECT * FROM {quote(tbl)} LIMIT 0").description
                )
            now = None if found is None else dict(zip(columns[tbl], found, strict=True))
            local = db.execute(_LOCAL, (tbl, pk)).fetchone()
            state = write(rowstate.state(local), now, (hlc, self.node_id))
            if state is None:
                continue  # nothing replicated changed (same values, or a row born and gone between stamps)
            change = rowstate.change(tbl, pk, (hlc, self.node_id), state)
            if len(change.data or "") > self.max_copy:  # ASCII JSON: characters are bytes
                logger.error("%s key %s: its copy (%d bytes) is above SQLite's limit: not replicated",
                             tbl, pk[:80], len(change.data or ""))  # fmt: skip
                self._bump(db, "too_large", 1)
                continue
            self._put(db, change)
            out.append(change)
        db.execute("DELETE FROM _cs_pending WHERE seq <= ?", (rows[-1][0],))
        if out:
            db.execute(
                "INSERT OR REPLACE INTO _cs_vector (origin, hlc) VALUES (?, ?)", (self.node_id, out[-1].hlc)
            )
        self.set_meta("hlc", self.hlc.last, db)
        return out

    def backfill(self) -> int:
        """Capture every existing row of the replicated tables (the data becomes the cluster's)."""
        with self._write() as db:
            count = 0
            for info in self.tables.values():
                keys = ", ".join(quote(c) for c in info.pk)
                count += db.execute(
                    f"INSERT INTO _cs_pending (tbl, wall, {', '.join(KEY_COLUMNS[: len(info.pk)])}) "
                    f"SELECT ?, ?, {keys} FROM {quote(info.name)}",
                    (info.name, int(time.time() * 1000)),
                ).rowcount
            self._stamp(db)
        return count

    @staticmethod
    def _put(db: sqlite3.Connection, c: Change) -> None:
        db.execute(
            "INSERT OR REPLACE INTO _cs_rows (tbl, pk, hlc, origin, deleted, data, base_hlc, base_origin, "
            "clocks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (c.tbl, c.pk, c.hlc, c.origin, int(c.deleted), c.data, c.base_hlc, c.base_origin, c.clocks),
        )

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
                    for change in changes:
                        self._apply_one(db, change, result, current, held)
                    db.execute("UPDATE _cs_flag SET applying = 0")
                advanced = vectors.advance({}, ((c.origin, c.hlc) for c in changes))
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
        return result

    def _advances(self, final: Vector) -> bool:
        """Whether a peer's final vector (or local notes waiting for a version) would change anything."""
        with self._lock:
            if self.db.execute("SELECT 1 FROM _cs_pending LIMIT 1").fetchone():
                return True
            current = reads.vector(self.db)
        return any(hlc > current.get(origin, 0) for origin, hlc in final.items())

    def _apply_one(
        self, db: sqlite3.Connection, c: Change, result: ApplyResult, current: Vector, held: int
    ) -> None:
        info = self.tables.get(c.tbl)
        if info is None:
            raise ValueError(f"change for table {c.tbl!r}, which is not replicated here")
        result.max_hlc = max(result.max_hlc, c.hlc)
        local = db.execute(_LOCAL, (c.tbl, c.pk)).fetchone()
        if local is None and c.hlc <= current.get(c.origin, 0):
            # Seen before, and no version of the row is kept: it was deleted since and the
            # tombstone collected (a removed or long-lagging member re-sends an old version).
            result.stale += 1
            return
        self._values = None
        if local is not None:
            if (local[0], local[1]) == (c.hlc, c.origin):
                result.duplicates += 1
                return
            merged = self._merge(db, c, local, result) if self.column_merge else self._whole(c, local, result)
            if merged is None:
                return
            c = merged
        self._put(db, c)
        result.applied += 1
        try:  # one statement: a refused one is undone alone, the transaction goes on
            self._write_row(db, info, c, self._values)
        except (sqlite3.IntegrityError, ApplyError) as exc:
            quarantine.hold(db, c, quarantine.describe(exc))
            result.quarantined += 1
            return
        if held:
            quarantine.release(db, c.tbl, c.pk)  # a newer version was written: the old one is moot

    def _merge(self, db: sqlite3.Connection, c: Change, local: Any, result: ApplyResult) -> Change | None:
        """Merge an incoming version with the local one (merge.py): the change to store and
        write, or None when the local row already holds everything the incoming one has."""
        mine = rowstate.state(local)
        assert mine is not None
        self._values = None if c.data is None else decode_row(c.data)
        theirs = decode_clocks(c.clocks, (c.hlc, c.origin), self._values,
                               (c.base_hlc, c.base_origin))  # fmt: skip
        merged, lost = merge(mine, theirs)
        if lost:
            result.conflicts += len(lost)
            result.collisions += sum(1 for x in lost if x.kind == "insert")
            conflicts.record(db, c.tbl, c.pk, lost)
        if merged.same(mine):
            result.kept += 1
            return None
        if merged.same(theirs):
            return c
        # A row neither side had: this member versions it, so it flows on like a local write.
        self.hlc.observe(c.hlc)
        self._values = merged.values
        merged_change = rowstate.change(c.tbl, c.pk, (self.hlc.tick(self.now_ms()), self.node_id), merged)
        result.merged += 1
        result.max_own = merged_change.hlc
        return merged_change

    @staticmethod
    def _whole(c: Change, local: Any, result: ApplyResult) -> Change | None:
        """Whole-row last-writer-wins (Store.column_merge False: the bench's baseline)."""
        if (c.hlc, c.origin) > (local[0], local[1]):
            return c
        result.kept += 1
        return None

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
                db, lambda tbl: self._refresh(db, tbl) if tbl in self.tables else None, self._write_row
            )
            db.execute("UPDATE _cs_flag SET applying = 0")
            self._bump(db, "released", written)
            return written, quarantine.count(db)

    def _write_row(self, db: sqlite3.Connection, info: TableInfo, c: Change, row: Row | None = None) -> None:
        """Write one version's row (upsert: columns the sender lacks keep their value)."""
        if c.data is None:
            keys = decode_key(c.pk, len(info.pk))
            where = " AND ".join(f"{quote(col)} IS ?" for col in info.pk)
            db.execute(f"DELETE FROM {quote(info.name)} WHERE {where}", keys)
            return
        row = decode_row(c.data) if row is None else row
        if any(col not in info.columns for col in row):
            info = self._refresh(db, info.name)
            unknown = [col for col in row if col not in info.columns]
            if unknown:
                raise ApplyError(
                    f"column(s) {', '.join(unknown)} of table {info.name!r} do not exist here "
                    "(add them with ALTER TABLE: the change is applied then)"
                )
        columns = tuple(row)
        sql = self._upserts.get((info.name, columns))
        if sql is None:
            sql = self._upserts[(info.name, columns)] = upsert_sql(info, columns)
        db.execute(sql, [row[col] for col in columns])

    def _refresh(self, db: sqlite3.Connection, name: str) -> TableInfo:
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
