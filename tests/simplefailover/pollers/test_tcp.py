"""The telnet/tcp poller against real sockets on loopback."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from simplefailover.config import Node, TcpPolling
from simplefailover.pollers import TcpPoller

from .conftest import HTTP_ADDRESS

NODE = Node(id="n", address=HTTP_ADDRESS)  # type: ignore[arg-type]


def polling(port: int, **extra: object) -> TcpPolling:
    return TcpPolling(id="t", method="telnet", port=port, **{"timeout": 1, **extra})  # type: ignore[arg-type]


def port_of(server: socketserver.BaseServer) -> int:
    return int(server.server_address[1])


def test_open_port(banner_server: socketserver.BaseServer) -> None:
    result = TcpPoller(polling(port_of(banner_server))).check(NODE)
    assert result.ok, result.error


def test_closed_port(closed_port: int) -> None:
    result = TcpPoller(polling(closed_port)).check(NODE)
    assert not result.ok
    assert result.error == "connection refused"


def test_banner_expected_and_present(banner_server: socketserver.BaseServer) -> None:
    result = TcpPoller(polling(port_of(banner_server), expect="ready")).check(NODE)
    assert result.ok, result.error


def test_send_then_expect_reply(banner_server: socketserver.BaseServer) -> None:
    result = TcpPoller(polling(port_of(banner_server), send="PING", expect="echo: PING")).check(NODE)
    assert result.ok, result.error


def test_banner_missing(banner_server: socketserver.BaseServer) -> None:
    result = TcpPoller(polling(port_of(banner_server), expect="SIP/2.0", timeout=0.5)).check(NODE)
    assert not result.ok
    assert "'SIP/2.0' not received" in result.error
    assert "220 ready" in result.error  # says what did arrive


def test_silent_peer_times_out(silent_port: int) -> None:
    result = TcpPoller(polling(silent_port, expect="hello", timeout=0.5)).check(NODE)
    assert not result.ok
    assert "not received within 0.5s" in result.error


@pytest.fixture
def closing_server() -> Iterator[int]:
    """Accepts and closes at once."""
    sock = socket.socket()
    sock.bind((HTTP_ADDRESS, 0))
    sock.listen(8)
    stop = threading.Event()

    def loop() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_peer_closes_before_banner(closing_server: int) -> None:
    result = TcpPoller(polling(closing_server, expect="hello")).check(NODE)
    assert not result.ok
    assert "closed before 'hello'" in result.error


def test_ipv6() -> None:
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        sock.listen(4)
        port = sock.getsockname()[1]
        node = Node(id="v6", address="::1")  # type: ignore[arg-type]
        result = TcpPoller(polling(port)).check(node)
    assert result.ok, result.error
