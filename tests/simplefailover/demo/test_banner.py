"""The demo node's TCP banner leaves no TIME_WAIT behind, so a restarted node listens at once."""

from __future__ import annotations

import socket
import time

from simplefailover.config import Node, TcpPolling
from simplefailover.demo import DemoNode
from simplefailover.pollers import TcpPoller
from tests.support.bind import free_port

HOST = "127.0.0.166"  # in this suite's range (127.0.0.160-179)
TIME_WAIT = "06"  # state column of /proc/net/tcp


def server_time_waits(port: int) -> int:
    """Connections in TIME_WAIT whose local end is HOST:port (the banner's side)."""
    wanted = f"{socket.inet_aton(HOST)[::-1].hex().upper()}:{port:04X}"
    count = 0
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted and fields[3] == TIME_WAIT:
                count += 1
    return count


def test_banner_closes_after_the_client_and_restarts_at_once() -> None:
    port = free_port(HOST)
    node = Node(id="n1", address=HOST)
    polling = TcpPolling(id="banner", method="telnet", port=port, expect="ready", timeout=2)
    demo = DemoNode(node, 0, [port])
    demo.http_port = free_port(HOST)
    demo.start()
    try:
        results = [TcpPoller(polling).check(node) for _ in range(20)]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        # A client that says nothing and never closes is reset after the wait, not left open.
        silent = socket.create_connection((HOST, port), timeout=10)
        assert silent.recv(100).startswith(b"220 n1 ready")
        deadline = time.monotonic() + 10
        closed = b"x"
        while closed and time.monotonic() < deadline:
            try:
                closed = silent.recv(100)
            except ConnectionResetError:
                closed = b""
        silent.close()
        assert closed == b""
    finally:
        demo.stop()
    assert server_time_waits(port) == 0  # the clients closed first: TIME_WAIT is on their side
    demo.start()  # at once, on the same port
    try:
        assert TcpPoller(polling).check(node).ok
    finally:
        demo.stop()
