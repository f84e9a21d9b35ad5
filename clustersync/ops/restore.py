"""Restore a backup onto a node that is not a cluster member, swapping its database atomically.

Everything that can fail is done before the node's database is touched: the archive is
read and every file checked against the manifest (SHA-256 and size), the database copy is
extracted beside the node's database, checked by SQLite (integrity_check) and prepared.
Only then is it renamed over the node's database (one rename, atomic); the database it
replaces is kept under a dated name (a hard link: no copy). The copy's sync state
(members, versions, vectors, gossip, pending notes, cluster id) is reset, so the node is
not a member: `clustersync create` makes the restored replicated data the new cluster's,
`clustersync join` replaces it by a member's while keeping the node-local tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from habase.atomic import sync_folder, write_atomic

from .. import __version__
from ..config import Cluster, ClusterConfig
from ..core.errors import SchemaError
from ..store.database import Store
from ..store.local import open_store, replicated_cluster
from ..store.schema import MEMBERS
from .backup import CONFIG, DATABASE, MANIFEST, SECRET, BackupError, Manifest, parse_manifest

logger = logging.getLogger(__name__)

MAX_MANIFEST = 1 << 20
# clustersync's tables that describe the old cluster and this node's place in it.
SYNC_STATE = (MEMBERS, "_cs_rows", "_cs_vector", "_cs_known", "_cs_pending")
KEEP_META = ("hlc",)  # the clock only moves forward, even across a restore


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    manifest: Manifest
    database: Path
    previous: Path | None  # the database it replaced, kept under this name
    config_copy: Path | None  # where the backed-up config file was written, if it differs
    secret: Path | None  # where the backed-up secret was written, if the archive had one
    notes: tuple[str, ...] = ()  # what the operator should know (another node's backup, another version)


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> tuple[str, int]:
    """Stream one archive member to target; return its SHA-256 and size."""
    source = tar.extractfile(member)
    if source is None:
        raise BackupError(f"{member.name}: not a regular file")
    h = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return h.hexdigest(), size


def read_archive(path: Path, workdir: Path) -> tuple[Manifest, dict[str, Path]]:
    """Verify a backup archive and extract its files into workdir; raise BackupError on any fault."""
    where = str(path)
    if not path.is_file():
        raise BackupError(f"{where}: no such backup file")
    files: dict[str, Path] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile() or first.size > MAX_MANIFEST:
                raise BackupError(f"{where}: not a clustersync backup ({MANIFEST} is not its first file)")
            raw = tar.extractfile(first)
            assert raw is not None  # a regular file, checked above
            manifest = parse_manifest(raw.read(), where)
            while (member := tar.next()) is not None:
                if member.name not in manifest.files or member.name in files or not member.isfile():
                    raise BackupError(f"{where}: unexpected member {member.name!r} (not in {MANIFEST})")
                target = workdir / member.name  # one of the fixed names the manifest allows
                digest, size = _extract(tar, member, target)
                want_digest, want_size = manifest.files[member.name]
                if (digest, size) != (want_digest, want_size):
                    raise BackupError(
                        f"{where}: {member.name} is corrupt (sha256 {digest[:16]}..., {size} bytes; "
                        f"the manifest says {want_digest[:16]}..., {want_size} bytes)"
                    )
                files[member.name] = target
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise BackupError(f"{where}: truncated, corrupt or not a tar.gz backup ({exc})") from None
    except OSError as exc:  # gzip.BadGzipFile is an OSError too
        raise BackupError(f"{where}: cannot read the backup: {exc}") from None
    missing = sorted(set(manifest.files) - set(files))
    if missing:
        raise BackupError(f"{where}: truncated: {', '.join(missing)} listed in {MANIFEST} but absent")
    return manifest, files


def membership(config: ClusterConfig) -> tuple[bool, list[str]]:
    """Whether this node is a cluster member, and the members it knows (empty: no database yet)."""
    cluster = replicated_cluster(config)
    assert cluster.database is not None
    if not cluster.database.exists():
        return False, []
    try:
        store = open_store(config)
    except SchemaError:
        # The application's tables are not all there: read the flag without installing anything.
        db = sqlite3.connect(f"file:{cluster.database}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM _cs_meta WHERE key = 'member'").fetchone()
        except sqlite3.OperationalError:
            row = None  # no clustersync tables: never was a member
        finally:
            db.close()
        return bool(row and row[0]), []
    try:
        return bool(store.meta("member")), [m.node_id for m in store.members()]
    finally:
        store.close()


def refuse_member(config: ClusterConfig) -> None:
    """Raise BackupError, saying what to do, when this node is a cluster member."""
    cluster = replicated_cluster(config)
    member, members = membership(config)
    if member:
        others = [m for m in members if m != cluster.node_id]
        on = f" on a member ({', '.join(others)})" if others else " on any member"
        raise BackupError(
            f"{cluster.database}: this node ({cluster.node_id}) is a cluster member; a restore would "
            f"replace data the cluster syncs. Either remove it first (clustersync remove "
            f"{cluster.node_id}{on}; it then keeps its data and stops syncing) and restore, "
            f"or restore on a new node (a fresh cluster.database) and join or create from there. "
            f"If it was removed while it was down, start clustersync run once: it learns the removal "
            f"from the others and stops being a member"
        )


def prepare(copy: Path, cluster: Cluster, where: str) -> None:
    """Check the extracted database and reset its sync state so the node is not a member."""
    db = sqlite3.connect(copy, isolation_level=None)
    try:
        check = db.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{where}: {DATABASE} is not an SQLite database: {exc}") from None
    finally:
        db.close()
    if check != [("ok",)]:
        raise BackupError(f"{where}: {DATABASE} fails SQLite's integrity check: {check[:3]}")
    # The replicated tables of this node's config must be there; this installs clustersync's
    # tables and capture too (a node backed up before it ever joined a cluster has none).
    try:
        Store(copy, cluster.node_id, list(cluster.tables.replicated), where=f"{where}: {DATABASE}").close()
    except SchemaError as exc:
        raise BackupError(f"{exc}, in the backup; this node's config.yaml lists it") from None
    db = sqlite3.connect(copy, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE _cs_flag SET applying = 1")  # emptying _cs_members is not a change to capture
        for table in SYNC_STATE:
            db.execute(f"DELETE FROM {table}")
        marks = ",".join("?" * len(KEEP_META))
        db.execute(f"DELETE FROM _cs_meta WHERE key NOT IN ({marks})", KEEP_META)
        db.execute("UPDATE _cs_flag SET applying = 0")
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode=DELETE")  # one self-contained file for the rename
    finally:
        db.close()


def _quiesce(database: Path) -> None:
    """Fold the node's WAL into its database and leave rollback mode, or say it is in use."""
    try:
        db = sqlite3.connect(database, timeout=5)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            mode = db.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        mode = str(exc)
    wal = Path(f"{database}-wal")
    if mode != "delete" or (wal.exists() and wal.stat().st_size):
        raise BackupError(
            f"{database} is in use by another process ({mode}); stop the applications using it "
            "(and clustersync run) on this node, then restore again"
        )


def _keep_aside(database: Path) -> Path:
    """Hard-link the current database under a dated name that is not taken yet."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        kept = database.with_name(f"{database.name}.before-restore-{stamp}" + (f".{n}" if n else ""))
        try:
            os.link(database, kept)
            return kept
        except FileExistsError:
            continue
    raise BackupError(f"{database}: too many {database.name}.before-restore-{stamp}.* files; delete old ones")


def _side_files(
    files: dict[str, Path], config_path: Path, cluster: Cluster
) -> tuple[Path | None, Path | None]:
    """Put the backed-up config (and secret) where the operator can use them; never overwrite."""
    config_copy = None
    backed_up = files[CONFIG].read_bytes()
    if not config_path.is_file() or config_path.read_bytes() != backed_up:
        config_copy = config_path.with_name(config_path.name + ".restored")
        write_atomic(config_copy, backed_up, mode=0o600)
    secret_at = None
    if SECRET in files:
        secret = files[SECRET].read_bytes()
        target = cluster.secret_path()
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, secret, mode=0o600)
            secret_at = target
        elif target.read_bytes() != secret:
            secret_at = target.with_name(target.name + ".restored")
            write_atomic(secret_at, secret, mode=0o600)
    return config_copy, secret_at


def restore_backup(config: ClusterConfig, config_path: Path, archive: Path) -> Restored:
    """Verify archive and restore it into this node's database (refused on a member)."""
    cluster = replicated_cluster(config)
    assert cluster.database is not None  # replicated_cluster checked it
    database = cluster.database
    database.parent.mkdir(parents=True, exist_ok=True)
    for stale in database.parent.glob(".restore-*"):  # left by a restore killed half-way
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(dir=database.parent, prefix=".restore-"))  # same file system: rename
    try:
        try:
            manifest, files = read_archive(archive, work)
            refuse_member(config)
            prepare(files[DATABASE], cluster, str(archive))
            # WAL, as clustersync and the applications use it: set before the swap, so the
            # restored file is never written in place (a kill then could leave a hot journal).
            db = sqlite3.connect(files[DATABASE])
            try:
                db.execute("PRAGMA journal_mode=WAL")
            finally:
                db.close()
            previous = None
            if database.exists():
                _quiesce(database)
                previous = _keep_aside(database)
            os.replace(files[DATABASE], database)  # the one step that changes the node
            sync_folder(database.parent)  # and it survives a power cut
        except (OSError, sqlite3.Error) as exc:
            raise BackupError(f"{archive}: restore failed, {database} is unchanged: {exc}") from exc
        try:
            config_copy, secret_at = _side_files(files, config_path, cluster)
        except (OSError, sqlite3.Error) as exc:
            raise BackupError(f"{database} is restored, but then: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("restored the %s backup of %s into %s", manifest.kind, manifest.node_id, database)
    with contextlib.suppress(OSError):
        os.chmod(database, 0o600)
    return Restored(manifest, database, previous, config_copy, secret_at, notes(manifest, cluster.node_id))


def notes(manifest: Manifest, node_id: str) -> tuple[str, ...]:
    """What differs between the backup and this node, worth telling the operator."""
    out = []
    if manifest.node_id != node_id:
        out.append(
            f"the backup is of node {manifest.node_id}, this node is {node_id}: "
            f"its node-local tables are now {manifest.node_id}'s"
        )
    if manifest.version != __version__:
        out.append(f"the backup was made by clustersync {manifest.version}, this is {__version__}")
    return tuple(out)
