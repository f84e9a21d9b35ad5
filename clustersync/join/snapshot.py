"""A member's join snapshots: a consistent copy of its database, made for one joining node.

The copy is made with SQLite's online backup API in one step, so it is one read transaction
(a WAL snapshot: writers go on meanwhile) and the vector stored in it is exactly what it
covers. Node-local data (tables not replicated, this member's _cs_meta, pending notes,
conflicts, gossip) is dropped from the copy with secure_delete on, so it never leaves the
member. The copy is kept under state_dir/join-snapshots/ with a JSON sidecar (size, vector,
chunk digests) for `cluster.join_keep` seconds, so a joiner whose connection dropped, even
across a restart of this member, resumes from where it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from habase.atomic import write_atomic

from ..core.vector import Vector
from ..store.schema import MEMBERS, quote

logger = logging.getLogger(__name__)

FOLDER = "join-snapshots"
# clustersync tables that are the cluster's data and travel with the snapshot. The quarantine
# too: a row the member holds back (quarantine.py) is missing from its tables, so from the
# copy as well, and the joiner must retry it in turn.
REPLICATED_OWN = (MEMBERS, "_cs_rows", "_cs_vector", "_cs_quarantine")
# clustersync tables that belong to one node: emptied in the snapshot (cluster_id excepted).
LOCAL_OWN = ("_cs_meta", "_cs_pending", "_cs_known", "_cs_conflicts")


def digest(data: bytes | bytearray | memoryview) -> str:
    """The checksum of one chunk (SHA-256, hex)."""
    return hashlib.sha256(data).hexdigest()


def manifest(digests: list[str]) -> str:
    """The whole file's checksum: SHA-256 over every chunk's digest, in order."""
    h = hashlib.sha256()
    for d in digests:
        h.update(bytes.fromhex(d))
    return h.hexdigest()


def chunk_count(size: int, chunk: int) -> int:
    """How many chunks a file of size bytes has."""
    return (size + chunk - 1) // chunk


@dataclass
class SnapshotFile:
    """One snapshot on disk and what is known of it."""

    id: str
    node: str  # the joining node it was made for
    path: str
    size: int
    chunk: int
    vector: Vector
    tables: list[str]
    created: float
    digests: dict[str, str] = field(default_factory=dict)  # chunk number -> digest, once computed
    checked: str | None = None  # SQLite quick_check's verdict ("ok" or the problems), once known

    def chunk_digest(self, index: int) -> str:
        """The digest of chunk index, computed from the file if not known yet."""
        known = self.digests.get(str(index))
        if known is None:
            with open(self.path, "rb") as f:
                f.seek(index * self.chunk)
                known = self.digests[str(index)] = digest(f.read(self.chunk))
        return known

    def manifest(self) -> str:
        """The whole file's checksum (see manifest())."""
        return manifest([self.chunk_digest(i) for i in range(chunk_count(self.size, self.chunk))])


def quick_check(path: str) -> str:
    """SQLite's quick_check of a database file: "ok" or what is wrong."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return "; ".join(r[0] for r in db.execute("PRAGMA quick_check(5)"))
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"not a sound SQLite database: {exc}"


def strip_local(db: sqlite3.Connection, replicated: list[str]) -> None:
    """Drop the node-local tables and empty clustersync's node-local tables (views hold no data: kept)."""
    keep = {*replicated, *REPLICATED_OWN, *LOCAL_OWN, "_cs_flag"}
    db.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed: nothing local leaks
    db.execute("BEGIN")
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        if name not in keep and not name.startswith("sqlite_"):
            db.execute(f"DROP TABLE {quote(name)}")
    for name in LOCAL_OWN:
        db.execute(
            f"DELETE FROM {quote(name)}" + (" WHERE key != 'cluster_id'" if name == "_cs_meta" else "")
        )
    db.execute("UPDATE _cs_flag SET applying = 0")
    db.execute("COMMIT")


class Snapshots:
    """The join snapshots a member keeps in state_dir/join-snapshots/."""

    def __init__(self, state_dir: Path, keep: float) -> None:
        self.folder = state_dir / FOLDER
        self.keep = keep

    def _sidecar(self, snap_id: str) -> Path:
        return self.folder / f"{snap_id}.json"

    def get(self, snap_id: str, node: str) -> SnapshotFile | None:
        """A kept snapshot made for this node, or None (unknown, expired or incomplete)."""
        if not snap_id.isalnum():
            return None
        try:
            snap = SnapshotFile(**json.loads(self._sidecar(snap_id).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if snap.node != node or not os.path.exists(snap.path) or os.path.getsize(snap.path) != snap.size:
            return None
        if time.time() - snap.created > self.keep:
            return None
        return snap

    def save(self, snap: SnapshotFile) -> None:
        """Write the sidecar atomically (digests computed so far included)."""
        write_atomic(self._sidecar(snap.id), json.dumps(asdict(snap)))

    def discard(self, snap_id: str) -> None:
        """Delete a snapshot and its sidecar."""
        for path in (self.folder / f"{snap_id}.db", self._sidecar(snap_id)):
            path.unlink(missing_ok=True)

    def expire(self, node: str | None = None) -> None:
        """Delete the expired snapshots, and every one made for node (a fresh one replaces them)."""
        if not self.folder.is_dir():
            return
        now = time.time()
        for path in self.folder.iterdir():
            snap_id = path.name.split(".")[0]
            try:
                info = json.loads(self._sidecar(snap_id).read_text())
                stale = now - float(info["created"]) > self.keep or info.get("node") == node
            except (OSError, ValueError, KeyError, TypeError):
                # No sidecar yet: maybe a snapshot being made for another join right now.
                try:
                    stale = now - path.stat().st_mtime > self.keep
                except FileNotFoundError:
                    continue
            if stale:
                path.unlink(missing_ok=True)

    def make(self, database: Path, replicated: list[str], node: str, chunk: int) -> SnapshotFile:
        """Copy the database consistently, strip node-local data, keep it for node."""
        self.expire(node)
        self.folder.mkdir(parents=True, exist_ok=True)
        snap_id = secrets.token_hex(8)
        tmp, final = self.folder / f"{snap_id}.db.tmp", self.folder / f"{snap_id}.db"
        started = time.monotonic()
        src = sqlite3.connect(str(database), timeout=30)
        dst = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            # A temporary file: a crash while it is written loses nothing, so no journal, no fsync.
            dst.execute("PRAGMA journal_mode = OFF")
            dst.execute("PRAGMA synchronous = OFF")
            src.backup(dst)  # one step: one read transaction, a consistent copy
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal
            strip_local(dst, replicated)
            vector = dict(dst.execute("SELECT origin, hlc FROM _cs_vector").fetchall())
        finally:
            dst.close()
            src.close()
        os.replace(tmp, final)
        snap = SnapshotFile(
            snap_id, node, str(final), final.stat().st_size, chunk, vector, replicated, time.time()
        )
        self.save(snap)
        logger.info(
            "join snapshot %s for %s: %d bytes in %.2f s",
            snap_id,
            node,
            snap.size,
            time.monotonic() - started,
        )
        return snap
