"""The joining node's incoming snapshot: partial file, resumable state, verification, the swap.

Chunks go to DATABASE.join (same folder, so the final rename is atomic) and every verified
chunk's digest to state_dir/join.json; an interrupted join keeps both, and the next attempt
re-checks what it kept and asks the member for the rest. Once the whole file matches its
manifest and passes SQLite's quick_check, this node's node-local tables (everything not
replicated, its _cs_meta but the schema's version and columns, which are the member's, and
conflicts) are copied into it in one transaction, and the file
replaces the database with one rename: a crash leaves either the old database or the new
one, never a mix. The rename is why applications must not hold the database open during a
join (cluster.join_hooks.before stops them); an open WAL database is detected and refused.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

from habase.atomic import sync_folder, write_atomic

from ..core.errors import ClusterSyncError
from ..store.schema import quote
from .snapshot import LOCAL_OWN, REPLICATED_OWN, chunk_count, digest

logger = logging.getLogger(__name__)

STATE_FILE = "join.json"
_OWN = {*REPLICATED_OWN, *LOCAL_OWN, "_cs_flag"}


class IncomingError(ClusterSyncError):
    """The received snapshot cannot be verified or installed."""


@dataclass
class JoinState:
    """An unfinished join, as saved in state_dir/join.json."""

    peer: str
    snapshot: str
    size: int
    chunk: int
    tables: list[str]
    digests: list[str] = field(default_factory=list)  # verified chunks, in order
    received: bool = False  # every chunk and the manifest verified
    checked: str = ""  # the member's quick_check verdict on these very bytes

    @property
    def offset(self) -> int:
        """Bytes kept so far."""
        return min(len(self.digests) * self.chunk, self.size)


def interrupted(state_dir: Path) -> bool:
    """Whether a join was started here and not finished (readiness: not ready: join interrupted)."""
    return (state_dir / STATE_FILE).exists()


def is_member(database: Path) -> bool:
    """Whether the database is already a member's (read without installing anything)."""
    if not database.exists():
        return False
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute("SELECT value FROM _cs_meta WHERE key = 'member'").fetchone()
    except sqlite3.OperationalError:
        return False  # no _cs_meta: never created nor joined
    finally:
        db.close()
    return bool(row and row[0])


class Incoming:
    """This node's partial snapshot and its state."""

    def __init__(self, database: Path, state_dir: Path) -> None:
        self.database = database
        self.partial = Path(str(database) + ".join")
        self.state_path = state_dir / STATE_FILE

    def load(self) -> JoinState | None:
        """The unfinished join, or None."""
        try:
            return JoinState(**json.loads(self.state_path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("%s unreadable (%s): starting the join afresh", self.state_path, exc)
            return None

    def save(self, state: JoinState) -> None:
        """Save the state atomically and durably: a join resumes from it after a crash."""
        write_atomic(self.state_path, json.dumps(asdict(state)))

    def begin(self, state: JoinState) -> JoinState:
        """Start receiving a new snapshot: forget any other one."""
        self.partial.unlink(missing_ok=True)
        self.save(state)
        return state

    def forget(self) -> None:
        """Drop the partial file and the state."""
        self.state_path.unlink(missing_ok=True)
        self.partial.unlink(missing_ok=True)

    def recheck(self, state: JoinState) -> int:
        """Keep only the chunks of the partial file that still match their digests; return bytes kept."""
        good = 0
        try:
            with open(self.partial, "rb") as f:
                for d in state.digests:
                    if digest(f.read(state.chunk)) != d:
                        break
                    good += 1
        except FileNotFoundError:
            good = 0
        if good < len(state.digests):
            logger.warning("join: kept %d of %d chunks (the rest no longer match)", good, len(state.digests))
            del state.digests[good:]
            self.save(state)
        return state.offset

    def open_for_append(self, state: JoinState) -> int:
        """A read-write descriptor of the partial file cut after the kept chunks (a torn tail is dropped)."""
        fd = os.open(self.partial, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, state.offset)
        return fd

    def verify(self, state: JoinState) -> None:
        """Flush the received file to disk; refuse it unless the member's quick_check passed."""
        have = self.partial.stat().st_size
        if len(state.digests) != chunk_count(state.size, state.chunk) or have != state.size:
            raise IncomingError(f"{self.partial}: incomplete ({have} of {state.size} bytes)")
        fd = os.open(self.partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # The member ran SQLite's quick_check on its snapshot while streaming it; the chunk
        # digests and the manifest prove these bytes are that file's, so the verdict holds
        # here, and checking again would only add a serial pass over the whole file.
        if state.checked != "ok":
            raise IncomingError(f"the member's snapshot failed SQLite quick_check: {state.checked}")

    def install(self, state: JoinState) -> None:
        """Copy this node's node-local data into the received file, then swap it in atomically."""
        self._merge_local(state)
        self._swap()
        self.state_path.unlink(missing_ok=True)

    def _merge_local(self, state: JoinState) -> None:
        replicated = {*state.tables, *_OWN}
        db = sqlite3.connect(str(self.partial), isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = DELETE")
            old = self.database.exists()
            if old:
                db.execute("ATTACH DATABASE ? AS old", (str(self.database),))
            db.execute("BEGIN IMMEDIATE")
            # A previous attempt may have got this far: start again from the member's copy.
            for kind, name in db.execute("SELECT type, name FROM main.sqlite_master").fetchall():
                if kind == "table" and name not in replicated and not _internal(name):
                    db.execute(f"DROP TABLE IF EXISTS main.{quote(name)}")
            if old:
                self._copy_local(db, replicated)
            db.execute("INSERT OR REPLACE INTO main._cs_meta (key, value) VALUES ('member', 1)")
            if not db.execute("SELECT 1 FROM main._cs_flag").fetchone():
                db.execute("INSERT INTO main._cs_flag (applying) VALUES (0)")
            db.execute("COMMIT")  # rollback journal, synchronous FULL: on disk when this returns
        except sqlite3.Error as exc:
            raise IncomingError(f"copying this node's local tables into the snapshot: {exc}") from exc
        finally:
            db.close()

    @staticmethod
    def _copy_local(db: sqlite3.Connection, replicated: set[str]) -> None:
        objects = db.execute("SELECT type, name, tbl_name, sql FROM old.sqlite_master WHERE sql IS NOT NULL")
        rows = objects.fetchall()
        local = [r for r in rows if r[0] == "table" and r[1] not in replicated and not _internal(r[1])]
        names = {r[1] for r in local}
        for _, name, _, sql in local:
            db.execute(sql)
            db.execute(f"INSERT INTO main.{quote(name)} SELECT * FROM old.{quote(name)}")
        for kind, name, tbl, sql in rows:
            if kind in ("index", "trigger") and tbl in names:
                db.execute(sql)
            elif kind == "view":  # this node's own views win over the member's of the same name
                db.execute(f"DROP VIEW IF EXISTS main.{quote(name)}")
                db.execute(sql)
        old_own = {r[1] for r in rows if r[0] == "table"}
        if "_cs_meta" in old_own:
            db.execute(
                "INSERT OR REPLACE INTO main._cs_meta SELECT key, value FROM old._cs_meta "
                "WHERE key NOT IN ('member', 'cluster_id', 'schema_version') AND key NOT LIKE 'columns:%'"
            )
        if "_cs_conflicts" in old_own:  # the columns both have (an older log lacks kind, col...)
            have = {r[1] for r in db.execute("PRAGMA old.table_info(_cs_conflicts)")}
            both = ", ".join(
                r[1] for r in db.execute("PRAGMA main.table_info(_cs_conflicts)") if r[1] in have
            )
            db.execute("DELETE FROM main._cs_conflicts")
            db.execute(f"INSERT INTO main._cs_conflicts ({both}) SELECT {both} FROM old._cs_conflicts")

    def _swap(self) -> None:
        db = str(self.database)
        if os.path.exists(db):
            conn = sqlite3.connect(db, timeout=30)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            # The last connection to close removes the -wal file: if it is still there,
            # another process has the database open and would keep writing the old file.
            if os.path.exists(db + "-wal"):
                raise IncomingError(
                    f"{db} is open in another process (an application?): stop it (cluster.join_hooks.before "
                    "can do that) and run the same command again to finish the join"
                )
            Path(db + "-shm").unlink(missing_ok=True)
        os.replace(self.partial, db)
        sync_folder(Path(db).parent)  # the rename itself is durable


def _internal(name: str) -> bool:
    return name.startswith("sqlite_") or name.startswith("_cs_")
