"""Bad input on the sync and control ports: random bytes, wrong secret, replay, oversized.

Each gets an error and changes nothing; the member keeps serving. Addresses 127.0.0.68-69.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersync.cli.main import main as clustersync
from clustersync.config import load_settings
from clustersync.core.errors import RemoteError
from clustersync.store.database import Store
from clustersync.sync.daemon import Node
from clustersync.sync.session import Context, run_client, run_server
from clustersync.wire.protocol import MAC, MAGIC, Channel, load_secret
from clustersync.wire.server import Server, open_channel

from .conftest import content, make_db
from .nodes import NodeDir, free_port, make_nodes


@pytest.fixture
def member(tmp_path: Path) -> Iterator[tuple[Node, NodeDir]]:
    (a,) = make_nodes(tmp_path, ["127.0.0.68"])
    db = sqlite3.connect(a.db)
    with db:
        db.execute("INSERT INTO items (id, v) VALUES (1, 'keep me')")
    db.close()
    assert clustersync(["create", "-c", str(a.config)]) == 0
    node = Node(load_settings(a.config))
    node.start(loop=False)
    yield node, a
    node.stop()


def state(path: Path) -> tuple[object, ...]:
    db = sqlite3.connect(path)
    try:
        return tuple(
            db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("items", "_cs_rows", "_cs_members")
        )
    finally:
        db.close()


def read_error(sock: socket.socket) -> str:
    """Read the server's error frame (after its greeting) and return the message."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    frame = data[19:]  # greeting: magic and nonce
    (length,) = struct.unpack(">I", frame[:4])
    message = json.loads(frame[4 + 2 * MAC : 4 + 2 * MAC + length])
    assert message["type"] == "error"
    return str(message["error"])


def client_store(tmp_path: Path, name: str) -> Store:
    return Store(make_db(tmp_path / f"{name}.db"), name, ["items", "pairs"])


def still_serves(node: Node, tmp_path: Path) -> None:
    """A proper session still works after the bad input."""
    other = client_store(tmp_path, "ok-client")
    ch = open_channel(("127.0.0.68", node.cluster.sync_port()), node.secret, 1 << 20, 5, other.clock)
    try:
        report = run_client(ch, Context(other, 15, 100), "n1")
    finally:
        ch.sock.close()
        other.close()
    assert report.ok and report.received >= 2  # the item and the member row


def test_random_bytes_get_an_error(member: tuple[Node, NodeDir], tmp_path: Path) -> None:
    node, a = member
    before = state(a.db)
    address = ("127.0.0.68", node.cluster.sync_port())
    with socket.create_connection(address, timeout=5) as sock:  # too short even for a nonce
        sock.sendall(os.urandom(5))
        sock.shutdown(socket.SHUT_WR)
        assert "bad greeting" in read_error_after_greeting(sock)
    with socket.create_connection(address, timeout=5) as sock:  # a well-sized frame of noise
        sock.sendall(MAGIC + os.urandom(16) + struct.pack(">I", 300) + os.urandom(300 + 2 * MAC))
        assert "authentication failed" in read_error(sock)
    assert state(a.db) == before
    still_serves(node, tmp_path)


@settings(max_examples=25, deadline=None)
@given(garbage=st.binary(min_size=1, max_size=600))
def test_any_garbage_changes_nothing(garbage: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("garbage") / "g.db"
    target = Store(make_db(path), "g", ["items", "pairs"])
    secret = b"s" * 32
    ctx = Context(target, 15, 100)
    handlers = {"sync": lambda ch, m, p: run_server(ch, ctx, m)}
    server = Server("data", ("127.0.0.69", 0), lambda: secret, handlers, 1 << 20, 2, target.clock)
    server.start()
    try:
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        assert target.vector() == {} and content(path) == {}
    finally:
        server.stop()
        target.close()


def test_wrong_secret_is_refused(member: tuple[Node, NodeDir], tmp_path: Path) -> None:
    node, a = member
    before = state(a.db)
    intruder = client_store(tmp_path, "intruder")
    sqlite3.connect(intruder.path).execute("INSERT INTO items VALUES (2, 'x', 0, NULL)").connection.commit()
    ch = open_channel(
        ("127.0.0.68", node.cluster.sync_port()), b"not the secret at all", 1 << 20, 5, intruder.clock
    )
    with pytest.raises(RemoteError, match="authentication failed"):
        run_client(ch, Context(intruder, 15, 100), "n1")
    ch.sock.close()
    # The control port too: a join with the wrong secret adds no member.
    ch = open_channel(("127.0.0.68", node.cluster.port), b"not the secret at all", 1 << 20, 5, intruder.clock)
    ch.send(
        {
            "type": "join",
            "node": "evil",
            "address": "127.0.0.70",
            "port": 1,
            "data_port": 2,
            "version": "0.1.0",
        }
    )
    with pytest.raises(RemoteError, match="authentication failed"):
        ch.recv()
    ch.sock.close()
    assert state(a.db) == before
    still_serves(node, tmp_path)


class Recorder(socket.socket):
    """A socket that keeps a copy of everything sent."""

    sent = b""

    def sendall(self, data: bytes, *args: object) -> None:  # type: ignore[override]
        Recorder.sent += bytes(data)
        super().sendall(data)


def test_replayed_session_is_refused(member: tuple[Node, NodeDir], tmp_path: Path) -> None:
    node, a = member
    before = state(a.db)
    # A real session, recorded, between a writer and another server with the same secret.
    writer = client_store(tmp_path, "writer")
    db = sqlite3.connect(writer.path)
    with db:
        db.execute("INSERT INTO items (id, v) VALUES (7, 'replayed?')")
    db.close()
    other = client_store(tmp_path, "other")
    ctx = Context(other, 15, 100)
    server = Server("data", ("127.0.0.69", free_port("127.0.0.69")), lambda: node.secret,
                    {"sync": lambda ch, m, p: run_server(ch, ctx, m)}, 1 << 20, 5, other.clock)  # fmt: skip
    server.start()
    sock = Recorder(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(server.address)
    report = run_client(Channel.connect(sock, node.secret, 1 << 20), Context(writer, 15, 100), "other")
    sock.close()
    server.stop()
    assert report.ok and 7 in content(other.path)
    # The same bytes sent to the member: the session key differs, so the first frame fails.
    with socket.create_connection(("127.0.0.68", node.cluster.sync_port()), timeout=5) as raw:
        raw.sendall(Recorder.sent)
        raw.shutdown(socket.SHUT_WR)
        assert "authentication failed" in read_error(raw)
    assert state(a.db) == before
    still_serves(node, tmp_path)


def test_oversized_message_is_refused_unread(member: tuple[Node, NodeDir], tmp_path: Path) -> None:
    node, a = member
    before = state(a.db)
    with socket.create_connection(("127.0.0.68", node.cluster.sync_port()), timeout=5) as sock:
        sock.sendall(MAGIC + os.urandom(16))
        assert sock.recv(19).startswith(MAGIC)
        # A frame header announcing 1 GiB: its MAC (which covers the length) is checked first,
        # so the body is never read.
        sock.sendall(struct.pack(">I", 1 << 30) + b"x" * 1000)
        error = read_error_after_greeting(sock)
    assert "authentication failed" in error
    assert state(a.db) == before
    assert load_secret(a.folder.parent / "cluster.secret") == node.secret
    still_serves(node, tmp_path)


def read_error_after_greeting(sock: socket.socket) -> str:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    (length,) = struct.unpack(">I", data[:4])
    return str(json.loads(data[4 + 2 * MAC : 4 + 2 * MAC + length])["error"])
