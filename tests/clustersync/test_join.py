"""Streamed join (SPEC CL-2) with real `clustersync run` members on 127.0.0.120-129.

A member holds a few MB; the joiner is a `clustersync join` subprocess. Covered: writes on
the member during the join are all caught up; a stream cut mid-way resumes from the bytes
kept (in the same command, and by running the command again after the member restarted);
hooks run around the join, mails say how it went, a database held open is refused and the
same command then finishes the join; a chunk altered in transit
is detected and fetched again; version mismatch and low disk are refused with the reason;
node-local tables of the joiner are kept and the member's never leave it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersync.core.errors import ProtocolError
from clustersync.join.incoming import Incoming, IncomingError, JoinState
from clustersync.join.snapshot import SnapshotFile, chunk_count, digest, quick_check
from clustersync.join.transfer import receive_chunks, send_chunks
from clustersync.wire.protocol import Channel
from tests.support.smtp import smtp_server

from .conftest import content
from .ha import Mailbox
from .nodes import NodeDir, free_port, make_nodes, wait_for

pytestmark = pytest.mark.slow

SMTP_HOST = "127.0.0.129"
ROWS = 20000  # about 6 MB with the blobs: several 1 MiB chunks


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[NodeDir]]:
    """n1 (a running member holding ROWS items and local settings) and n2 (not a member yet)."""
    nodes = make_nodes(tmp_path, ["127.0.0.121", "127.0.0.122"])
    member, joiner = nodes
    db = sqlite3.connect(member.db)
    with db:
        db.execute(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "
            "INSERT INTO items (id, v, n, b) SELECT i, hex(randomblob(40)), i * 0.5, "
            "CASE WHEN i % 50 = 0 THEN randomblob(8000) END FROM c",
            (ROWS,),
        )
        db.execute("INSERT INTO pairs VALUES ('a', 1, 'x')")
        db.execute("INSERT INTO local_settings VALUES ('smtp', 'member secret')")
        db.execute("CREATE VIEW item_ids AS SELECT id FROM items")
    db.close()
    db = sqlite3.connect(joiner.db)
    with db:
        db.execute("INSERT INTO items (id, v) VALUES (-1, 'replaced by the join')")
        db.execute("INSERT INTO local_settings VALUES ('smtp', 'joiner own')")
        db.execute("CREATE INDEX local_by_value ON local_settings (v)")
        db.execute("CREATE VIEW setting_names AS SELECT k FROM local_settings")
    db.close()
    member.write_config(join_chunk=1 << 20)
    member.cli("create")
    member.start()
    try:
        yield nodes
    finally:
        for node in nodes:
            node.kill()


def joined_ok(member: NodeDir, joiner: NodeDir) -> None:
    """The joiner has the member's replicated rows, its own local settings, and syncs."""
    assert content(joiner.db) == content(member.db)
    assert content(joiner.db, "local_settings") == {"smtp": ("smtp", "joiner own")}
    db = sqlite3.connect(joiner.db)
    try:
        objects = set(db.execute("SELECT type, name FROM sqlite_master WHERE type IN ('index', 'view')"))
        assert {("index", "local_by_value"), ("view", "item_ids"), ("view", "setting_names")} <= objects
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM _cs_pending").fetchone() == (0,)
    finally:
        db.close()
    assert b"member secret" not in joiner.db.read_bytes()  # the member's local data never left it
    assert not (joiner.folder / "state" / "join.json").exists()
    assert not Path(str(joiner.db) + ".join").exists()


def test_join_while_the_member_keeps_writing_loses_nothing(pair: list[NodeDir]) -> None:
    member, joiner = pair
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        db = sqlite3.connect(member.db, timeout=10)
        i = 0
        while not stop.is_set() and i < 20000:  # until the join command is over
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO items (id, v) VALUES (?, 'during the join')", (ROWS + 1 + i,)
                )
                db.execute("UPDATE items SET v = ? WHERE id = 1", (f"update {i}",))
            written.append(i)
            i += 1
            stop.wait(0.002)
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = joiner.cli("join", "--peer", member.peer)
    finally:
        stop.set()
        thread.join()
    assert "joined through" in result.stdout, result.stderr
    assert re.search(r"transfer .* MB/s", result.stdout)
    caught = re.search(r"catch-up +(\d+) changes since the snapshot", result.stdout)
    assert caught and int(caught[1]) > 0, result.stdout  # the join itself caught up with the writes
    assert len(written) > 0
    joiner.start()
    wait_for(lambda: content(joiner.db) == content(member.db), 30, "the joiner to catch up")
    assert len(content(joiner.db)) == ROWS + len(written)
    joined_ok(member, joiner)
    status = json.loads(joiner.cli("status", "--json").stdout)
    assert [m["id"] for m in status["members"]] == ["n1", "n2"]


def test_a_cut_stream_resumes_from_the_bytes_kept(pair: list[NodeDir]) -> None:
    member, joiner = pair
    member.kill()
    member.write_config(join_chunk=1 << 20, test_join_drop_after=(5 << 20) // 2)  # 2.5 chunks
    member.start()
    joiner.write_config(join_retries=0)
    first = joiner.cli("join", "--peer", member.peer, check=False)
    assert first.returncode == 1
    assert "join interrupted (2097152 of" in first.stderr
    assert "run the same command again to resume" in first.stderr
    status = json.loads(joiner.cli("status", "--json").stdout)
    assert status["alarms"]["readiness"]["ready"] is False
    assert "join interrupted" in status["alarms"]["readiness"]["reason"]

    member.kill()  # the member restarts meanwhile: it serves the same snapshot from its disk
    member.start()
    joiner.write_config(join_retries=10)  # each connection moves 2 more chunks before the cut
    again = joiner.cli("join", "--peer", member.peer)
    assert "resuming after 2.1 MB kept" in again.stdout
    assert "joined through" in again.stdout
    joined_ok(member, joiner)


def test_an_altered_chunk_is_detected_and_fetched_again(pair: list[NodeDir]) -> None:
    member, joiner = pair
    member.kill()
    member.write_config(join_chunk=1 << 20, test_join_corrupt_chunk=2)
    member.start()
    result = joiner.cli("join", "--peer", member.peer)
    assert "chunk 2 (bytes 2097152 to 3145728): checksum mismatch" in result.stdout
    assert "joined through" in result.stdout
    joined_ok(member, joiner)


def test_version_mismatch_and_low_disk_are_refused_with_the_reason(pair: list[NodeDir]) -> None:
    member, joiner = pair
    joiner.write_config(test_version="9.9.9")
    result = joiner.cli("join", "--peer", member.peer, check=False)
    assert result.returncode == 1
    assert "version mismatch: n2 runs 9.9.9, members run" in result.stderr

    joiner.write_config(test_free_disk=1000)
    result = joiner.cli("join", "--peer", member.peer, check=False)
    assert result.returncode == 1
    assert "not enough free disk: 0.0 MB free next to" in result.stderr
    assert "twice the database size" in result.stderr
    db = sqlite3.connect(member.db)
    try:  # refused before anything was recorded
        assert [r[0] for r in db.execute("SELECT node_id FROM _cs_members")] == ["n1"]
    finally:
        db.close()
    assert content(joiner.db) == {-1: (-1, "replaced by the join", None, None)}

    joiner.write_config()
    nobody = f"{member.address}:{free_port(member.address)}"
    result = joiner.cli("join", "--peer", nobody, check=False)
    assert result.returncode == 1
    assert f"join through {member.address} port {nobody.split(':')[1]} failed" in result.stderr
    assert "Connection refused" in result.stderr


def test_a_damaged_snapshot_fails_quick_check_and_is_not_installed(tmp_path: Path) -> None:
    """The member's quick_check verdict travels with the stream; the joiner refuses anything but ok."""
    source = tmp_path / "snapshot.db"
    db = sqlite3.connect(source)
    with db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        db.executemany("INSERT INTO t VALUES (?, ?)", ((i, "x" * 300) for i in range(2000)))
    db.close()
    assert quick_check(str(source)) == "ok"
    data = bytearray(source.read_bytes())
    data[4096 * 5 : 4096 * 5 + 64] = bytes(64)  # the header of a b-tree page
    source.write_bytes(bytes(data))
    verdict = quick_check(str(source))
    assert verdict != "ok"
    incoming = Incoming(tmp_path / "app.db", tmp_path / "state")
    state = incoming.begin(JoinState("m", "s1", len(data), 1 << 20, ["items"]))
    incoming.partial.write_bytes(bytes(data))
    state.digests = [digest(data)]
    state.checked = verdict
    with pytest.raises(IncomingError, match="the member's snapshot failed SQLite quick_check"):
        incoming.verify(state)


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.129."""
    with smtp_server(SMTP_HOST, Mailbox()) as (box, port):
        assert isinstance(box, Mailbox)
        yield box, port


def test_hooks_mail_and_a_database_held_open(pair: list[NodeDir], smtp: tuple[Mailbox, int]) -> None:
    member, joiner = pair
    box, port = smtp
    log = joiner.folder / "hooks.log"
    mail = (
        "monitoring:\n  recipients: [ops@example.com]\n"
        f"  smtp: {{host: {SMTP_HOST}, port: {port}, security: none, sender: ha@example.com}}\n"
    )

    def configure(before: str) -> None:
        hooks = f'{{before: "{before}", after: "echo after >> {log}"}}'
        joiner.write_config(join_hooks=hooks)
        with joiner.config.open("a") as file:
            file.write(mail)

    configure(f"echo before >> {log}; exit 3")
    failed = joiner.cli("join", "--peer", member.peer, check=False)
    assert failed.returncode == 1
    assert "cluster.join_hooks.before" in failed.stderr and "exit 3" in failed.stderr
    assert log.read_text().split() == ["before", "after"]  # after runs even when the join failed
    wait_for(lambda: len(box.subjects("n2")) == 1, 10, "the failure mail")
    assert box.subjects("n2")[0].startswith("[n2] clustersync: join failed: cluster.join_hooks.before")

    configure(f"echo before >> {log}")
    app = sqlite3.connect(joiner.db)  # an application still holding the database (WAL mode)
    app.execute("PRAGMA journal_mode = WAL")
    app.execute("SELECT count(*) FROM items").fetchone()
    held = joiner.cli("join", "--peer", member.peer, check=False)
    assert held.returncode == 1
    assert "is open in another process" in held.stderr
    status = json.loads(joiner.cli("status", "--json").stdout)
    assert "join interrupted: run clustersync repair" in status["alarms"]["readiness"]["reason"]
    app.close()
    done = joiner.cli("repair")  # SPEC CL-7: completes from the verified file, no transfer
    assert f"an interrupted join through {member.peer} was found" in done.stdout
    assert "joined through" in done.stdout and " transfer " not in done.stdout
    joined_ok(member, joiner)
    assert "nothing to repair" in joiner.cli("repair").stdout
    assert log.read_text().split() == ["before", "after"] * 3
    wait_for(lambda: len(box.subjects("n2")) == 3, 10, "the second failure and the success mails")
    assert box.subjects("n2")[2].startswith(f"[n2] clustersync: joined: through {member.peer}")


@given(
    size=st.integers(1, 150_000),
    chunk=st.integers(4000, 70_000),  # not page multiples: maps of unaligned offsets too
    cuts=st.lists(st.integers(0, 150_000), max_size=3),
    corrupt=st.integers(-1, 3),
)
@settings(max_examples=30, deadline=None)
def test_any_cut_or_altered_chunk_resumes_to_an_identical_file(
    size: int, chunk: int, cuts: list[int], corrupt: int
) -> None:
    """Checksummed chunks over real sockets: whatever the cuts, the kept chunks plus the rest are the file."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "snapshot.db"
        source.write_bytes(os.urandom(size))
        snap = SnapshotFile(f"s{size}x{chunk}", "n2", str(source), size, chunk, {}, [], 0.0)
        incoming = Incoming(folder / "app.db", folder / "state")
        state = incoming.begin(JoinState("m", snap.id, size, chunk, []))
        attempts, failures = 0, 0
        while True:
            attempts += 1
            assert attempts <= len(cuts) + 3, "no progress"
            cut = cuts[attempts - 1] if attempts <= len(cuts) else 0
            a, b = socket.socketpair()
            sender = Channel(a, b"k" * 32, True, 1 << 20)
            incoming.recheck(state)
            args = (send_chunks, sender, snap, len(state.digests), lambda: "ok", cut, corrupt)
            thread = threading.Thread(target=_quietly, args=args)
            thread.start()
            fd = incoming.open_for_append(state)
            try:
                verdict = receive_chunks(
                    Channel(b, b"k" * 32, False, 1 << 20), fd, state.digests, size, chunk, noop
                )
                break
            except ProtocolError:
                failures += 1
            finally:
                os.close(fd)
                incoming.save(state)
                # Close the receiving end before joining: a sender blocked in sendall on a
                # refused chunk would otherwise wait for a reader that is gone (a deadlock).
                b.close()
                thread.join()
                a.close()
        assert verdict == "ok"
        assert incoming.partial.read_bytes() == source.read_bytes()
        assert failures <= len([c for c in cuts if c]) + (1 if 0 <= corrupt < chunk_count(size, chunk) else 0)


def noop(done: int) -> None:
    """A progress callback that ignores progress."""


def _quietly(send: Callable[..., bool], *args: object) -> None:
    with contextlib.suppress(OSError):
        send(*args)
