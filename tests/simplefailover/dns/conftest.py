"""A real DNS service on loopback, fed by a real engine, and small wire-level clients."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from simplefailover.config import Config, parse_config
from simplefailover.dns.service import DnsService
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.pollers.result import PollResult

Address = tuple[str, int]

# 127.0.0.30-39 and ::1 are this suite's addresses. 2001:db8::/32 (documentation)
# only appears inside answers: nothing is ever sent there.
CONFIG = """
zone:
  name: zone.test
  ttl: 30
  nameservers:
    - {name: ns1.zone.test, address: 127.0.0.30}
    - {name: ns2.zone.test, address: "::1"}
    - {name: ns.outside.test}
  soa: {rname: hostmaster@zone.test, minimum: 60}
nodes:
  - {id: n1, address: 127.0.0.31, priority: 10}
  - {id: n2, address: 127.0.0.32, priority: 5}
  - {id: n6, address: "::1", priority: 1}
MORE_NODES
pollings:
  - {id: p, method: tcp, port: 9}
  - {id: p6, method: tcp, port: 9}
  - {id: pd, method: tcp, port: 9}
hostnames:
  - {name: ias1, polling: p}
  - {name: ias6, polling: p6}
  - {name: down, polling: pd}
  - {name: none, polling: pd, when_all_down: none}
  - {name: www.sub, polling: p}
dns:
  listen: ["127.0.0.30:0", "[::1]:0"]
  tcp_idle_timeout: 5
  tcp_max_connections: 20
"""
MORE = "\n".join(f"  - {{id: m{i}, address: '2001:db8::{i + 1:x}', priority: 0}}" for i in range(30))
OK_NODES = {"p": {"n1", "n2"}, "p6": {"n6"}, "pd": set()}


def make_config(extra: str = "", **dns: object) -> Config:
    """The suite's config, with YAML appended and dns settings replaced."""
    text = CONFIG.replace("MORE_NODES", MORE) + extra
    config = parse_config(text)
    if dns:
        config = config.model_copy(update={"dns": config.dns.model_copy(update=dns)})
    return config


def feed(engine: Engine) -> None:
    """One full round of results: the table becomes ready."""
    now = time.time()
    for polling in engine.config.pollings:
        for node in engine.config.nodes:
            ok = node.id in OK_NODES.get(polling.id, set())
            engine.record(node.id, polling.id, PollResult(ok, 0.001, "" if ok else "refused", now))


@pytest.fixture
def start_dns() -> Iterator[Callable[..., DnsService]]:
    """Start DNS services (engine fed unless ready=False); stop them all afterwards."""
    started: list[DnsService] = []

    def start(config: Config | None = None, ready: bool = True) -> DnsService:
        config = config or make_config()
        engine = Engine(config)
        if ready:
            feed(engine)
        service = DnsService(config, engine, Metrics())
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="module")
def dns_service() -> Iterator[DnsService]:
    """One ready service shared by a module's read-only tests."""
    config = make_config()
    engine = Engine(config)
    feed(engine)
    service = DnsService(config, engine, Metrics())
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def v4(dns_service: DnsService) -> Address:
    return dns_service.addresses[0]


@pytest.fixture(scope="module")
def v6(dns_service: DnsService) -> Address:
    return dns_service.addresses[1]


def _family(address: Address) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address[0] else socket.AF_INET


def udp_exchange(address: Address, message: bytes, timeout: float = 3.0) -> bytes:
    """Send one datagram, return the reply (socket.timeout when none comes)."""
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(message, address)
        return sock.recv(65535)


def tcp_connect(address: Address, timeout: float = 3.0) -> socket.socket:
    """A TCP connection to the server."""
    sock = socket.create_connection(address, timeout=timeout)
    return sock


def read_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly size bytes, or fewer when the peer closes."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def tcp_read_message(sock: socket.socket) -> bytes:
    """One length-prefixed DNS message."""
    head = read_exact(sock, 2)
    if len(head) < 2:
        return b""
    return read_exact(sock, struct.unpack("!H", head)[0])


def tcp_exchange(address: Address, message: bytes) -> bytes:
    """Send one query over a new TCP connection, return the reply."""
    with tcp_connect(address) as sock:
        sock.sendall(struct.pack("!H", len(message)) + message)
        return tcp_read_message(sock)


def exchange(transport: str, address: Address, message: bytes) -> bytes:
    """One query over 'udp' or 'tcp'."""
    return udp_exchange(address, message) if transport == "udp" else tcp_exchange(address, message)


def wait_for(condition: Callable[[], object], timeout: float = 10.0, every: float = 0.05) -> object:
    """Poll condition until it returns something true; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)
