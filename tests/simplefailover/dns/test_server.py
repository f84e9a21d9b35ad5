"""The server side: dnspython and dig as clients, IPv6, TCP per RFC 7766, binding, readiness."""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import RCODE, DNSRecord

from simplefailover.dns import answers
from simplefailover.dns.server import open_pair, open_socket
from simplefailover.dns.service import DnsService
from simplefailover.engine import Engine
from simplefailover.errors import BindError
from simplefailover.metrics import Metrics

from .conftest import Address, make_config, tcp_connect, tcp_read_message, udp_exchange, wait_for


@pytest.mark.parametrize("address_index", [0, 1], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_dnspython_client(dns_service: DnsService, address_index: int, transport: str) -> None:
    host, port = dns_service.addresses[address_index]
    query = dns.message.make_query("IaS1.zone.TEST", "A", use_edns=0, payload=1232)
    send = dns.query.udp if transport == "udp" else dns.query.tcp
    reply = send(query, host, port=port, timeout=3)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA and not reply.flags & dns.flags.RA
    assert reply.question[0].name.to_text() == "IaS1.zone.TEST."  # case kept
    (rrset,) = reply.answer
    assert rrset.ttl == 30 and [r.address for r in rrset] == ["127.0.0.31"]
    assert reply.edns == 0 and reply.payload == 1232


def test_dnspython_nxdomain_and_refused(v6: Address) -> None:
    host, port = v6
    nx = dns.query.udp(dns.message.make_query("nope.zone.test", "A"), host, port=port, timeout=3)
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].rdtype == dns.rdatatype.SOA
    refused = dns.query.tcp(dns.message.make_query("example.org", "A"), host, port=port, timeout=3)
    assert refused.rcode() == dns.rcode.REFUSED


def _dig(*args: str) -> str:
    dig = shutil.which("dig") or "/usr/bin/dig"
    run = subprocess.run([dig, "+time=2", "+tries=1", *args], capture_output=True, text=True, timeout=20)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_dig(v4: Address, v6: Address, tcp: bool) -> None:
    transport = ["+tcp"] if tcp else []
    out = _dig(f"@{v4[0]}", "-p", str(v4[1]), *transport, "IaS1.Zone.Test", "A")
    assert "status: NOERROR" in out
    assert re.search(r"flags: qr aa rd;", out), out
    assert re.search(r"^IaS1\.Zone\.Test\.\s+30\s+IN\s+A\s+127\.0\.0\.31$", out, re.M), out
    soa = _dig(f"@{v6[0]}", "-p", str(v6[1]), *transport, "+short", "zone.test", "SOA")
    assert soa.startswith("ns1.zone.test. hostmaster.zone.test. ")
    nx = _dig(f"@{v6[0]}", "-p", str(v6[1]), *transport, "nothing.zone.test", "A")
    assert "status: NXDOMAIN" in nx and "AUTHORITY: 1" in nx


def test_tcp_pipelined_queries_on_one_connection(v4: Address) -> None:
    names = ["ias1.zone.test", "nope.zone.test", "example.com", "ias6.zone.test", "zone.test"] * 4
    queries = [DNSRecord.question(name, "A") for name in names]
    with tcp_connect(v4) as sock:
        # All in one write: the server must split them and answer every one.
        sock.sendall(b"".join(struct.pack("!H", len(q.pack())) + bytes(q.pack()) for q in queries))
        replies = [DNSRecord.parse(tcp_read_message(sock)) for _ in queries]
        # Then more on the same connection, one byte at a time.
        late = bytes(DNSRecord.question("IAS1.zone.test").pack())
        for byte in struct.pack("!H", len(late)) + late:
            sock.send(bytes([byte]))
        last = DNSRecord.parse(tcp_read_message(sock))
    by_id = {r.header.id: r for r in replies}
    assert len(by_id) == len(queries)  # any order, but every one
    expected = [RCODE.NOERROR, RCODE.NXDOMAIN, RCODE.REFUSED, RCODE.NOERROR, RCODE.NOERROR] * 4
    assert [by_id[q.header.id].header.rcode for q in queries] == expected
    assert str(last.rr[0].rdata) == "127.0.0.31"


def test_tcp_idle_connections_are_closed(start_dns: Callable[..., DnsService]) -> None:
    service = start_dns(make_config(tcp_idle_timeout=0.3))
    with tcp_connect(service.addresses[0], timeout=10) as sock:
        assert sock.recv(10) == b""  # closed by the server, not by our timeout


def test_tcp_connection_cap(start_dns: Callable[..., DnsService]) -> None:
    service = start_dns(make_config(tcp_max_connections=2))
    address = service.addresses[0]
    query = bytes(DNSRecord.question("ias1.zone.test").pack())
    framed = struct.pack("!H", len(query)) + query
    kept = [tcp_connect(address), tcp_connect(address)]
    try:
        for sock in kept:
            sock.sendall(framed)
            assert tcp_read_message(sock)
        assert _tcp_query(address, framed) == b""  # over the cap: closed at once
        assert udp_exchange(address, query)  # UDP is not affected
    finally:
        for sock in kept:
            sock.close()
    # Once the first two are gone, new connections are served again.
    assert wait_for(lambda: _tcp_query(address, framed))


def _tcp_query(address: Address, framed: bytes) -> bytes:
    """One framed query on a new connection: the reply, or b"" when the server closed it."""
    try:
        with tcp_connect(address) as sock:
            sock.sendall(framed)
            return tcp_read_message(sock)
    except (ConnectionResetError, BrokenPipeError):
        return b""


def test_not_ready_answers_servfail_for_hostnames_only(start_dns: Callable[..., DnsService]) -> None:
    service = start_dns(ready=False)
    address = service.addresses[0]
    for name in ("ias1.zone.test", "down.zone.test"):
        reply = DNSRecord.parse(udp_exchange(address, bytes(DNSRecord.question(name).pack())))
        assert reply.header.rcode == RCODE.SERVFAIL and reply.rr == []
    soa = DNSRecord.parse(udp_exchange(address, bytes(DNSRecord.question("zone.test", "SOA").pack())))
    assert soa.header.rcode == RCODE.NOERROR  # apex data does not depend on polls


def test_internal_error_answers_servfail_and_keeps_serving(
    start_dns: Callable[..., DnsService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = start_dns()
    address = service.addresses[0]
    query = bytes(DNSRecord.question("ias6.zone.test", "AAAA").pack())

    def broken(self: answers.Answerer, request: DNSRecord) -> DNSRecord:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(answers.Answerer, "answer", broken)
    reply = udp_exchange(address, query)
    assert reply[:2] == query[:2] and reply[3] & 0x0F == RCODE.SERVFAIL
    monkeypatch.undo()
    assert DNSRecord.parse(udp_exchange(address, query)).header.rcode == RCODE.NOERROR
    counts = service.responder.count_by_name()
    assert counts["SERVFAIL"] == 1 and counts["NOERROR"] == 1


def test_ko_ttl_while_a_node_is_ko(start_dns: Callable[..., DnsService]) -> None:
    config = make_config()
    config = config.model_copy(update={"zone": config.zone.model_copy(update={"ko_ttl": 5})})
    service = start_dns(config)
    query = bytes(DNSRecord.question("ias1.zone.test").pack())
    reply = DNSRecord.parse(udp_exchange(service.addresses[0], query))
    assert reply.rr[0].ttl == 5  # n6 and the m* nodes are KO for polling p


def test_reload_changes_answers_without_dropping_sockets(start_dns: Callable[..., DnsService]) -> None:
    service = start_dns()
    before = service.addresses
    config = make_config()
    config = config.model_copy(update={"zone": config.zone.model_copy(update={"ttl": 7})})
    service.engine.reconfigure(config)  # the daemon's order: engine first, then services
    service.reconfigure(config)
    assert service.addresses == before
    query = bytes(DNSRecord.question("ias1.zone.test").pack())
    assert DNSRecord.parse(udp_exchange(before[0], query)).rr[0].ttl == 7


def test_metrics_count_queries_by_rcode() -> None:
    config = make_config()
    metrics = Metrics()
    service = DnsService(config, Engine(config), metrics)
    service.start()
    try:
        for name in ("nope.zone.test", "nope.zone.test", "example.com"):
            udp_exchange(service.addresses[0], bytes(DNSRecord.question(name).pack()))
        sample = metrics.registry.get_sample_value
        assert sample("simplefailover_dns_queries_total", {"rcode": "NXDOMAIN"}) == 2
        assert sample("simplefailover_dns_queries_total", {"rcode": "REFUSED"}) == 1
    finally:
        service.stop()


def test_port_in_use_is_a_bind_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.30", 0))
        with pytest.raises(BindError, match="already in use"):
            open_pair("127.0.0.30", taken.getsockname()[1])


def test_privileged_port_without_the_right_says_how_to_fix() -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's privileges")
    script = (
        "import socket\n"
        "from simplefailover.dns.server import open_socket\n"
        "from simplefailover.errors import BindError\n"
        "try:\n"
        "    open_socket('127.0.0.30', 53, socket.SOCK_DGRAM)\n"
        "except BindError as exc:\n"
        "    print(exc)\n"
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        assert setpriv is not None
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    run = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd="/")
    if "permission denied" not in run.stdout:
        pytest.skip(f"this host lets unprivileged users bind port 53: {run.stdout}{run.stderr}")
    assert "127.0.0.30:53/udp" in run.stdout
    assert "run as root" in run.stdout and "setcap cap_net_bind_service=+ep" in run.stdout
    assert "dns.listen" in run.stdout


def test_open_socket_ipv6_only(v6: Address) -> None:
    sock = open_socket("::1", 0, socket.SOCK_DGRAM)
    try:
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    finally:
        sock.close()
