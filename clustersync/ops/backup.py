"""Backups of one node: a consistent copy of its database, its config file, and a manifest.

The copy is taken with SQLite's online backup API in one step, which is one read
transaction: a WAL snapshot, so `clustersync run` and the applications go on writing and
the copy holds every transaction entirely or not at all. A light backup then empties the
history tables (cluster.tables.history) in the copy and vacuums it, so their rows are not
in the file at all. The archive is a tar.gz whose first member is manifest.json (format,
versions, node, time, kind, tables with row counts, SHA-256 and size of every other
member); it is written to a temporary file, synced and renamed, with mode 0600.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from habase.atomic import atomic_file

from .. import __version__
from ..config import Cluster, ClusterConfig
from ..core.errors import ClusterSyncError
from ..store.local import replicated_cluster
from ..store.schema import quote

logger = logging.getLogger(__name__)

FORMAT = 1
PRODUCT = "clustersync"
MANIFEST = "manifest.json"
DATABASE = "database.sqlite"
CONFIG = "config.yaml"
SECRET = "cluster.secret"
KINDS = ("full", "light")
Kind = Literal["full", "light"]


class BackupError(ClusterSyncError):
    """A backup cannot be made, or an archive is not a sound clustersync backup."""


@dataclass(frozen=True)
class TableCount:
    """One table of the backed-up database: its name, its role and its rows."""

    name: str
    role: str  # replicated | history | local | clustersync
    rows: int


@dataclass(frozen=True)
class Manifest:
    """What a backup archive holds, as written in its manifest.json."""

    kind: Kind
    version: str
    node_id: str
    created: float
    tables: tuple[TableCount, ...]
    files: dict[str, tuple[str, int]]  # member name: (sha256 hex, size)
    secret_included: bool

    def to_json(self) -> bytes:
        """The manifest as written into the archive."""
        data = {
            "format": FORMAT,
            "product": PRODUCT,
            "version": self.version,
            "node_id": self.node_id,
            "created": self.created,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
            "kind": self.kind,
            "secret_included": self.secret_included,
            "tables": [{"name": t.name, "role": t.role, "rows": t.rows} for t in self.tables],
            "files": {name: {"sha256": h, "size": s} for name, (h, s) in self.files.items()},
        }
        return json.dumps(data, indent=2, ensure_ascii=False).encode()

    def rows(self, role: str) -> int:
        """Rows in the tables of one role."""
        return sum(t.rows for t in self.tables if t.role == role)


def parse_manifest(raw: bytes, where: str) -> Manifest:
    """Check a manifest.json read from an archive; raise BackupError saying what is wrong."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{where}: corrupt: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("product") != PRODUCT:
        raise BackupError(f"{where}: not a clustersync backup ({MANIFEST} names no product {PRODUCT!r})")
    if data.get("format") != FORMAT:
        raise BackupError(
            f"{where}: backup format {data.get('format')!r} is not supported (this version reads {FORMAT})"
        )
    kind = data.get("kind")
    if kind not in KINDS:
        raise BackupError(f"{where}: backup kind {kind!r} is unknown (expected full or light)")
    try:
        tables = tuple(TableCount(str(t["name"]), str(t["role"]), int(t["rows"])) for t in data["tables"])
        files = {str(n): (str(f["sha256"]), int(f["size"])) for n, f in data["files"].items()}
        manifest = Manifest(
            kind,
            str(data["version"]),
            str(data["node_id"]),
            float(data["created"]),
            tables,
            files,
            bool(data["secret_included"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackupError(f"{where}: {MANIFEST} is incomplete or malformed ({exc!r})") from None
    if DATABASE not in files or CONFIG not in files:
        raise BackupError(f"{where}: {MANIFEST} lists no {DATABASE} or no {CONFIG}")
    extra = sorted(set(files) - {DATABASE, CONFIG, SECRET})
    if extra:
        raise BackupError(f"{where}: {MANIFEST} lists unexpected files {extra}")
    return manifest


def table_role(name: str, cluster: Cluster) -> str:
    """Which part of the node's data a table is (decides what a light backup leaves out)."""
    if name in cluster.tables.history:
        return "history"
    if name.startswith("_cs_"):
        return "clustersync"  # versions, vectors, members: reset by a restore
    return "replicated" if name in cluster.tables.replicated else "local"


def count_tables(db: sqlite3.Connection, cluster: Cluster) -> tuple[TableCount, ...]:
    """Every table of a database with its role and row count."""
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return tuple(
        TableCount(n, table_role(n, cluster), db.execute(f"SELECT count(*) FROM {quote(n)}").fetchone()[0])
        for n in names
    )


def snapshot_database(source: Path, target: Path) -> None:
    """Copy a live database consistently (one read transaction) into a new self-contained file."""
    if not source.is_file():
        raise BackupError(f"cluster.database {source}: no such file; nothing to back up")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # pages=-1: all pages in one step, so one snapshot, never restarted
        dst.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
    except sqlite3.Error as exc:
        raise BackupError(f"cluster.database {source}: cannot copy: {exc}") from exc
    finally:
        dst.close()
        src.close()


def drop_history(path: Path, history: list[str]) -> None:
    """Empty the history tables of a copy (schema kept, so capture can still be installed)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        existing = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute("UPDATE _cs_flag SET applying = 1")  # no capture of these deletes
        for name in history:
            if name in existing:
                db.execute(f"DELETE FROM {quote(name)}")
        if "_cs_rows" in existing and history:
            marks = ",".join("?" * len(history))
            db.execute(f"DELETE FROM _cs_rows WHERE tbl IN ({marks})", history)
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute("UPDATE _cs_flag SET applying = 0")
        db.execute("COMMIT")
        db.execute("VACUUM")  # the deleted rows leave the file, not only the tables
    finally:
        db.close()


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _write_archive(out: Path, manifest: Manifest, paths: dict[str, Path]) -> None:
    """Write the tar.gz next to out, sync it, then rename it over out (mode 0600)."""
    # Level 6: the size of level 9 on SQLite pages, in a third of the time.
    with (
        atomic_file(out, mode=0o600) as raw,
        tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar,
    ):
        body = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(body), 0o600, int(manifest.created)
        tar.addfile(info, io.BytesIO(body))
        for name, path in paths.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o600, int(manifest.created)
            with path.open("rb") as file:
                tar.addfile(info, file)


def make_backup(
    config: ClusterConfig, config_path: Path, kind: Kind, out: Path, include_secret: bool = False
) -> Manifest:
    """Back up this node (full or light) into the archive out; return its manifest."""
    cluster = replicated_cluster(config)
    assert cluster.database is not None  # replicated_cluster checked it
    folder_of_out = out.parent if out.parent.is_dir() else None
    with tempfile.TemporaryDirectory(dir=folder_of_out, prefix=".backup-") as work:
        folder = Path(work)
        copy = folder / DATABASE
        snapshot_database(cluster.database, copy)
        if kind == "light":
            drop_history(copy, list(cluster.tables.history))
        db = sqlite3.connect(copy)
        try:
            tables = count_tables(db, cluster)
        finally:
            db.close()
        paths = {DATABASE: copy, CONFIG: config_path}
        if include_secret:
            secret = cluster.secret_path()
            if not secret.is_file():
                raise BackupError(f"--include-secret: cluster secret {secret} does not exist")
            paths[SECRET] = secret
        files = {name: file_digest(path) for name, path in paths.items()}
        manifest = Manifest(kind, __version__, cluster.node_id, time.time(), tables, files, include_secret)
        _write_archive(out, manifest, paths)
    logger.info("%s backup of %s written to %s", kind, cluster.node_id, out)
    return manifest


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    """Rows per role, for the CLI's one-line report."""
    return {role: manifest.rows(role) for role in ("replicated", "history", "local")}
