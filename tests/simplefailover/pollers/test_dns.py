"""The dns poller against the project's own DNS responder and a real BIND."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from simplefailover.config import DnsPolling, Node, parse_config
from simplefailover.dns.service import DnsService
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.pollers import DnsPoller
from simplefailover.pollers.result import PollResult
from tests.support.bind import Named, have_named, start_on_free_port

OWN = "127.0.23.30"
CONFIG = f"""
zone: {{name: zone.test}}
nodes:
  - {{id: n1, address: 127.0.23.31, priority: 10}}
  - {{id: n2, address: 127.0.23.32, priority: 5}}
pollings:
  - {{id: p, method: tcp, port: 9}}
hostnames:
  - {{name: ias1, polling: p}}
dns:
  listen: ["{OWN}:0"]
"""


@pytest.fixture(scope="module")
def own_dns() -> Iterator[int]:
    """The project's responder, answering ias1.zone.test with n1; yields its port."""
    config = parse_config(CONFIG)
    engine = Engine(config)
    for node, ok in (("n1", True), ("n2", False)):
        engine.record(node, "p", PollResult(ok, 0.001, "" if ok else "refused", time.time()))
    service = DnsService(config, engine, Metrics())
    service.start()
    yield service.addresses[0][1]
    service.stop()


def dns_polling(port: int, **fields: Any) -> DnsPolling:
    return DnsPolling.model_validate({"id": "d", "method": "dns", "port": port, "timeout": 2, **fields})


SERVER = Node(id="dns1", address=OWN)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_own_responder_answer_checked(own_dns: int, transport: str) -> None:
    good = dns_polling(own_dns, name="ias1.zone.test", transport=transport, expect_answer="127.0.23.31")
    assert DnsPoller(good).check(SERVER).ok
    wrong = dns_polling(own_dns, name="ias1.zone.test", transport=transport, expect_answer="127.0.23.32")
    result = DnsPoller(wrong).check(SERVER)
    assert result.error == "answer 127.0.23.31 (expected 127.0.23.32)"


def test_own_responder_rcodes(own_dns: int) -> None:
    missing = dns_polling(own_dns, name="nope.zone.test")
    assert DnsPoller(missing).check(SERVER).error == "rcode NXDOMAIN (expected NOERROR)"
    assert DnsPoller(dns_polling(own_dns, name="nope.zone.test", expect_rcode="nxdomain")).check(SERVER).ok
    outside = dns_polling(own_dns, name="www.example.org")
    assert DnsPoller(outside).check(SERVER).error == "rcode REFUSED (expected NOERROR)"
    soa = dns_polling(own_dns, name="zone.test", type="soa")
    assert DnsPoller(soa).check(SERVER).ok


def test_silent_server_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((OWN, 0))
        polling = dns_polling(silent.getsockname()[1], name="a.test", timeout=0.5)
        assert DnsPoller(polling).check(SERVER).error == "no DNS reply within 0.5s (udp)"


def test_garbage_reply_is_ko() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((OWN, 0))
        listener.listen(1)
        polling = dns_polling(listener.getsockname()[1], name="a.test", transport="tcp")

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(512)
                conn.sendall(b"\x00\x05hello")

        threading.Thread(target=answer, daemon=True).start()
        result = DnsPoller(polling).check(SERVER)
    assert not result.ok and result.error.startswith("bad DNS reply")


ZONE = """$TTL 60
@       IN SOA ns1 hostmaster 1 3600 600 86400 60
        IN NS  ns1
ns1     IN A   127.0.0.1
self    IN A   127.0.0.1
www     IN A   192.0.2.10
        IN MX  10 mail.example.com.
"""


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Named]:
    if not have_named():
        pytest.skip("Debian bind9 (/usr/sbin/named) is not installed; make test installs it")
    folder = tmp_path_factory.mktemp("bind23")
    conf = 'zone "example.com" { type primary; file "example.com.zone"; };\n'
    named = start_on_free_port(
        lambda port: Named(folder / "bind", port, conf, {"example.com.zone": ZONE}, "example.com")
    )
    yield named
    named.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_real_bind(bind: Named, transport: str) -> None:
    node = Node(id="bind", address=bind.host)
    checks = {
        "self": dns_polling(
            bind.port, name="self.example.com", transport=transport, expect_answer="{address}"
        ),
        "mx": dns_polling(bind.port, name="www.example.com", type="MX", expect_answer="10 MAIL.example.com"),
        "nx": dns_polling(bind.port, name="no.example.com", expect_rcode="NXDOMAIN"),
    }
    for name, polling in checks.items():
        result = DnsPoller(polling).check(node)
        assert result.ok, f"{name}: {result.error}"
    wrong = dns_polling(bind.port, name="www.example.com", expect_answer="{address}")
    assert DnsPoller(wrong).check(node).error == "answer 192.0.2.10 (expected 127.0.0.1)"
