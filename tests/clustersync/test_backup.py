"""Backup and restore of one node: round trips row by row, consistency while writing, refusals.

Nodes use 127.0.0.130-133 (this suite's addresses) and free ports.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clustersync.config import load_settings
from clustersync.ops.backup import (
    CONFIG,
    DATABASE,
    SECRET,
    BackupError,
    Kind,
    Manifest,
    TableCount,
    parse_manifest,
)
from clustersync.ops.restore import restore_backup

from .backup_data import APP_TABLES, REPLICATED, dump, fill, prepare
from .nodes import ROOT, NodeDir, make_nodes, wait_for


def _node(tmp_path: Path, name: str, address: str, with_db: bool = True) -> NodeDir:
    (node,) = make_nodes(tmp_path / name, [address])
    prepare(node)
    if not with_db:
        node.db.unlink()
    return node


def _manifest(archive: Path) -> dict[str, object]:
    with tarfile.open(archive, "r:gz") as tar:
        first = tar.next()
        assert first is not None and first.name == "manifest.json"
        raw = tar.extractfile(first)
        assert raw is not None
        data: dict[str, object] = json.loads(raw.read())
        for member in tar:
            if member.name == "manifest.json":
                continue
            body = tar.extractfile(member)
            assert body is not None
            files = data["files"]
            assert isinstance(files, dict)
            assert hashlib.sha256(body.read()).hexdigest() == files[member.name]["sha256"]
    return data


def _rows(data: dict[str, object]) -> dict[str, int]:
    tables = data["tables"]
    assert isinstance(tables, list)
    return {t["name"]: t["rows"] for t in tables}


def test_full_and_light_round_trips_row_by_row(tmp_path: Path) -> None:
    source = _node(tmp_path, "a", "127.0.0.130")
    fill(source.db, 1, 60)
    source.cli("create")
    fill(source.db, 50, 30, tag="after create ")  # captured changes not yet versioned: still data
    before = dump(source.db)
    secret = (tmp_path / "a" / "cluster.secret").read_bytes()
    for kind, extra in (("full", ["--include-secret"]), ("light", [])):
        out = tmp_path / f"{kind}.tar.gz"
        done = source.cli("backup", f"--{kind}", *extra, "-o", str(out))
        assert f"{kind} backup of n1" in done.stdout
        assert ("secret IS in this backup" if extra else "secret is not in this backup") in done.stdout
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        data = _manifest(out)
        assert (data["kind"], data["node_id"], data["format"]) == (kind, "n1", 1)
        assert data["secret_included"] is bool(extra)
        files = (
            ["cluster.secret", "config.yaml", "database.sqlite"]
            if extra
            else ["config.yaml", "database.sqlite"]
        )
        assert sorted(data["files"]) == files  # type: ignore[call-overload]
        rows = _rows(data)
        assert (rows["items"], rows["local_settings"]) == (
            len(before["items"]),
            len(before["local_settings"]),
        )
        assert rows["calls"] == (len(before["calls"]) if kind == "full" else 0)

        target = _node(tmp_path, f"restore-{kind}", "127.0.0.131", with_db=False)
        done = target.cli("restore", str(out))
        assert f"restored the {kind} backup of n1" in done.stdout
        after = dump(target.db)
        expected = dict(before, calls=before["calls"] if kind == "full" else [])
        for table in APP_TABLES:
            assert after[table] == expected[table], table
        assert (target.folder / "config.yaml.restored").read_text() == source.config.read_text()
        restored_secret = target.folder.parent / "cluster.secret"  # the node's secret_file
        if extra:
            assert (
                restored_secret.read_bytes() == secret
                and stat.S_IMODE(restored_secret.stat().st_mode) == 0o600
            )
        else:
            assert not restored_secret.exists()
        status = json.loads(target.cli("status", "--json").stdout)
        assert status["member"] is False and status["members"] == []
        # The restored replicated data becomes a new cluster's on create.
        assert f"{sum(len(expected[t]) for t in REPLICATED)} rows" in target.cli("create").stdout
        assert dump(target.db) == after
    assert not list(tmp_path.rglob(".restore-*")) and not list(tmp_path.glob(".*.tmp"))


WRITER = """
import sqlite3, sys, time, pathlib
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
stop = pathlib.Path(sys.argv[2])
deadline = time.monotonic() + 40
i = 0
while i < 200000 and time.monotonic() < deadline and not stop.exists():
    i += 1
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO items (id, v) VALUES (?, 'w')", (100000 + i,))
    db.execute("INSERT INTO pairs (a, b, v) VALUES ('w', ?, 'w')", (i,))
    db.execute("INSERT OR REPLACE INTO local_settings VALUES ('count', ?)", (i,))
    db.execute("COMMIT")
"""


def _written(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute("SELECT v FROM local_settings WHERE k = 'count'").fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


def test_backup_is_a_consistent_snapshot_while_run_and_a_writer_write(tmp_path: Path) -> None:
    node = _node(tmp_path, "a", "127.0.0.132")
    fill(node.db, 1, 20)
    node.cli("create")
    node.start()
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(node.db), str(stop)], cwd=ROOT)
    try:
        wait_for(lambda: _written(node.db) > 200, 20, "the writer's first transactions")
        counts = []
        for n in range(3):
            out = tmp_path / f"b{n}.tar.gz"
            node.cli("backup", "--full", "-o", str(out))
            copy = tmp_path / f"copy{n}"
            copy.mkdir()
            with tarfile.open(out, "r:gz") as tar:
                tar.extractall(copy, filter="data")
            db = copy / "database.sqlite"
            items = {r[0] - 100000 for r in sqlite3.connect(db).execute("SELECT id FROM items WHERE v = 'w'")}
            pairs = {r[0] for r in sqlite3.connect(db).execute("SELECT b FROM pairs WHERE a = 'w'")}
            count = _written(db)
            # Each writer transaction touched three tables: a snapshot holds all three or none.
            assert items == pairs == set(range(1, count + 1))
            assert _rows(_manifest(out))["items"] == 20 + count
            counts.append(count)
        # The writer went on during the backups (they overlapped it), and run kept up.
        assert counts[0] < counts[1] < counts[2]
        wait_for(lambda: _written(node.db) > counts[2], 20, "the writer's next transaction")
        assert writer.poll() is None, "the writer stopped before the backups were done"
    finally:
        stop.touch()
        writer.wait(30)
        node.kill()
    assert writer.returncode == 0


def test_restore_on_a_member_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    node = _node(tmp_path, "a", "127.0.0.133")
    fill(node.db, 1, 10)
    node.cli("create")
    out = tmp_path / "b.tar.gz"
    node.cli("backup", "--light", "-o", str(out))
    fill(node.db, 100, 5)
    before = dump(node.db, (*APP_TABLES, "_cs_members", "_cs_meta", "_cs_rows"))
    done = node.cli("restore", str(out), check=False)
    assert done.returncode == 1
    assert "is a cluster member" in done.stderr
    assert "clustersync remove n1" in done.stderr and "restore on a new node" in done.stderr
    assert dump(node.db, (*APP_TABLES, "_cs_members", "_cs_meta", "_cs_rows")) == before
    assert not list(node.folder.glob("app.db.before-restore-*")) and not list(node.folder.glob(".restore-*"))


def _retar(archive: Path, out: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy an archive, changing (or dropping, on None) members' bytes."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            raw = src.extractfile(member)
            assert raw is not None
            body = change(member.name, raw.read())
            if body is not None:
                member.size = len(body)
                dst.addfile(member, io.BytesIO(body))


def _flip(data: bytes, at: int) -> bytes:
    at = at % len(data)
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def _flip_db_byte(name: str, body: bytes) -> bytes:
    if name != "database.sqlite":
        return body
    return body[:5000] + bytes([body[5000] ^ 1]) + body[5001:]


def _manifest_kind(name: str, body: bytes) -> bytes:
    return body.replace(b'"kind": "light"', b'"kind": "medium"') if name == "manifest.json" else body


CORRUPTIONS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "truncated": (lambda a, o: o.write_bytes(a.read_bytes()[: a.stat().st_size // 2]), "truncated"),
    "flipped byte in the manifest's gzip stream": (
        lambda a, o: o.write_bytes(_flip(a.read_bytes(), 300)),
        "corrupt",
    ),
    "flipped byte near the end": (lambda a, o: o.write_bytes(_flip(a.read_bytes(), -40)), "corrupt"),
    "database altered, manifest kept": (
        lambda a, o: _retar(a, o, _flip_db_byte),
        "database.sqlite is corrupt",
    ),
    "database missing": (
        lambda a, o: _retar(a, o, lambda n, b: None if n == "database.sqlite" else b),
        "database.sqlite listed in manifest.json but absent",
    ),
    "unknown kind": (lambda a, o: _retar(a, o, _manifest_kind), "backup kind 'medium' is unknown"),
    "not a backup": (lambda a, o: o.write_text("zone: {name: example.com}\n"), "not a tar.gz backup"),
    "a tar.gz without manifest": (
        lambda a, o: _retar(a, o, lambda n, b: None if n == "manifest.json" else b),
        "manifest.json is not its first file",
    ),
}


@pytest.fixture(scope="module")
def light_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    node = _node(folder, "src", "127.0.0.130")
    fill(node.db, 1, 300)
    out = folder / "light.tar.gz"
    node.cli("backup", "--light", "-o", str(out))
    return out


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_archive_is_refused_and_changes_nothing(
    tmp_path: Path, light_archive: Path, case: str
) -> None:
    make, message = CORRUPTIONS[case]
    bad = tmp_path / "bad.tar.gz"
    make(light_archive, bad)
    node = _node(tmp_path, "b", "127.0.0.131")
    fill(node.db, 1000, 5, tag="mine ")
    before = dump(node.db)
    listing = sorted(os.listdir(node.folder))
    with pytest.raises(BackupError) as caught:
        restore_backup(load_settings(node.config), node.config, bad)
    assert str(bad) in str(caught.value) and message in str(caught.value)
    assert dump(node.db) == before
    assert sorted(os.listdir(node.folder)) == listing  # no temporary file left, nothing kept aside


def test_corrupt_archive_on_the_command_line(tmp_path: Path, light_archive: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(light_archive.read_bytes()[:-100])
    node = _node(tmp_path, "b", "127.0.0.131", with_db=False)
    done = node.cli("restore", str(bad), check=False)
    assert (
        done.returncode == 1
        and done.stderr.startswith("clustersync restore: ")
        and "truncated" in done.stderr
    )
    assert not node.db.exists()


def test_restore_refused_while_an_application_holds_the_database(tmp_path: Path, light_archive: Path) -> None:
    node = _node(tmp_path, "b", "127.0.0.131")
    fill(node.db, 1000, 5, tag="mine ")
    app = sqlite3.connect(node.db)  # an application still running on this node
    try:
        app.execute("PRAGMA journal_mode=WAL")
        assert app.execute("SELECT count(*) FROM items").fetchone() == (5,)
        before = dump(node.db)
        with pytest.raises(BackupError, match="in use by another process"):
            restore_backup(load_settings(node.config), node.config, light_archive)
        assert dump(node.db) == before
        assert not list(node.folder.glob("app.db.before-restore-*")) and not list(
            node.folder.glob(".restore-*")
        )
    finally:
        app.close()
    # Once the application has stopped, the same restore goes through.
    restore_backup(load_settings(node.config), node.config, light_archive)
    assert [r[0] for r in dump(node.db)["local_settings"]][:2] == ["setting1", "setting10"]
    assert len(list(node.folder.glob("app.db.before-restore-*"))) == 1
    restored = sqlite3.connect(f"file:{node.db}?mode=ro", uri=True)
    try:  # in WAL mode, as the applications use it, and set before the swap: no journal left beside it
        assert restored.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        restored.close()
    assert not Path(f"{node.db}-journal").exists()


def test_a_failed_backup_leaves_the_previous_one(tmp_path: Path) -> None:
    node = _node(tmp_path, "a", "127.0.0.130")
    out = tmp_path / "b.tar.gz"
    node.cli("backup", "--light", "-o", str(out))
    previous = out.read_bytes()
    done = node.cli("backup", "--full", "--include-secret", "-o", str(out), check=False)
    assert done.returncode == 1 and "cluster secret" in done.stderr and "does not exist" in done.stderr
    assert out.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b.tar.gz"]  # no temporary left


TABLE_COUNTS = st.lists(
    st.builds(
        TableCount, st.text(min_size=1), st.sampled_from(["replicated", "history", "local"]), st.integers(0)
    ),
    max_size=5,
)
DIGESTS = st.tuples(st.text("0123456789abcdef", min_size=64, max_size=64), st.integers(0, 2**40))


@given(
    kind=st.sampled_from(["full", "light"]),
    node=st.text(min_size=1),
    tables=TABLE_COUNTS,
    files=st.fixed_dictionaries({DATABASE: DIGESTS, CONFIG: DIGESTS}, optional={SECRET: DIGESTS}),
)
def test_manifest_round_trip(
    kind: Kind, node: str, tables: list[TableCount], files: dict[str, tuple[str, int]]
) -> None:
    manifest = Manifest(kind, "0.1.0", node, 1.7e9, tuple(tables), files, SECRET in files)
    assert parse_manifest(manifest.to_json(), "x") == manifest


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_any_other_manifest_is_refused_with_a_backup_error(data: object) -> None:
    raw = json.dumps(data).encode()
    try:
        parse_manifest(raw, "x")
    except BackupError as exc:
        assert str(exc).startswith("x: ")
    else:
        raise AssertionError(f"accepted {raw!r}")


def _copy_db(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    dst.close()
    src.close()


def test_a_restore_killed_at_any_moment_leaves_the_old_or_the_new_database(tmp_path: Path) -> None:
    source = _node(tmp_path, "a", "127.0.0.130")
    fill(source.db, 1, 3000)
    archive = tmp_path / "full.tar.gz"
    source.cli("backup", "--full", "-o", str(archive))
    target = _node(tmp_path, "b", "127.0.0.131")
    fill(target.db, 5000, 50, tag="old ")
    old = dump(target.db)
    pristine = tmp_path / "old.db"
    _copy_db(target.db, pristine)
    command = [sys.executable, "-m", "clustersync", "restore", "-c", str(target.config), str(archive)]
    durations = []
    for _ in range(2):  # the first run reads the modules from disk: the second one is the usual time
        _copy_db(pristine, target.db)
        started = time.monotonic()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=60)
        durations.append(time.monotonic() - started)
    duration = min(durations)
    new = dump(target.db)
    assert new != old and new == dump(source.db)
    outcomes = []
    for k in range(8):  # kill -9 across the later part of a restore, where the work is
        _copy_db(pristine, target.db)
        for kept in target.folder.glob("app.db.before-restore-*"):
            kept.unlink()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(duration * (0.3 + k / 10))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        now = dump(target.db)
        assert now in (old, new), f"kill {k}: the database is neither the old one nor the restored one"
        outcomes.append(now == new)
    # The next restore clears what a killed one left and completes.
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=60)
    assert dump(target.db) == new and len(list(target.folder.glob(".restore-*"))) == 0
    assert outcomes.count(False) >= 1, f"no kill landed before the swap ({outcomes}, {durations})"


def test_a_backup_without_a_table_this_node_replicates_is_refused(
    tmp_path: Path, light_archive: Path
) -> None:
    node = _node(tmp_path, "b", "127.0.0.131", with_db=False)
    node.write_config(tables="{replicated: [items, pairs, calls, invoices], history: [calls]}")
    with pytest.raises(BackupError) as caught:
        restore_backup(load_settings(node.config), node.config, light_archive)
    assert "'invoices'" in str(caught.value) and "does not exist" in str(caught.value)
    assert "cluster.tables.replicated" in str(caught.value)
    assert sorted(p.name for p in node.folder.iterdir()) == ["config.yaml"]  # no database, nothing left
