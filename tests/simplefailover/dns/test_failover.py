"""End to end: real HTTP nodes, the real daemon, answers read over DNS while a node fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from simplefailover.daemon import Daemon

from .conftest import wait_for

CONFIG = """
zone:
  name: fail.test
  ttl: 30
  nameservers: [{{name: ns1.fail.test, address: 127.0.0.30}}]
nodes:
  - {{id: first, address: 127.0.0.31, priority: 10}}
  - {{id: second, address: 127.0.0.32, priority: 5}}
pollings:
  - {{id: web, method: http, url: "http://{{address}}:{port}/fw/login", expect_body: Login, timeout: 1}}
hostnames:
  - {{name: ias, polling: web}}
schedule: {{interval: 0.5, retry_interval: 0.2, fall: 1, rise: 1, jitter: 0}}
dns: {{listen: ["127.0.0.30:0"]}}
dashboard: {{enabled: false}}
monitoring: {{notifications: false}}
"""


class Login(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<title>Login</title>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Node:
    """A real HTTP server on one address that can be stopped and started again."""

    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self.server = ThreadingHTTPServer((self.address, self.port), Login)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def nodes() -> Iterator[tuple[Node, Node]]:
    first = Node("127.0.0.31", 0)
    first.start()
    second = Node("127.0.0.32", first.port)  # the polling URL has one port for both
    second.start()
    yield first, second
    first.stop()
    second.stop()


def _answer(address: tuple[str, int]) -> tuple[list[str], int]:
    """The A addresses of ias.fail.test and the SOA serial, asked over DNS."""
    host, port = address
    a = dns.query.udp(dns.message.make_query("ias.fail.test", "A"), host, port=port, timeout=2)
    soa = dns.query.udp(dns.message.make_query("fail.test", "SOA"), host, port=port, timeout=2)
    addresses = [r.address for rrset in a.answer for r in rrset if rrset.rdtype == dns.rdatatype.A]
    return sorted(addresses), soa.answer[0][0].serial


def test_answer_fails_over_and_back(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    first, _ = nodes
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(port=first.port))
    daemon = Daemon(path)
    daemon.start()
    try:
        (service,) = [s for s in daemon.services if s.name == "dns"]
        address = service.addresses[0]
        wait_for(lambda: _answer(address)[0] == ["127.0.0.31"])
        _, serial = _answer(address)

        first.stop()
        wait_for(lambda: _answer(address)[0] == ["127.0.0.32"])
        _, failed_over = _answer(address)
        assert failed_over > serial

        first.start()
        wait_for(lambda: _answer(address)[0] == ["127.0.0.31"])
        _, failed_back = _answer(address)
        assert failed_back > failed_over
    finally:
        daemon.stop()
