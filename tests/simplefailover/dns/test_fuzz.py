"""Random and broken packets over real sockets never crash or wedge the server (X-5)."""

from __future__ import annotations

import socket
import struct

from dnslib import DNSRecord
from hypothesis import HealthCheck, given, settings

from simplefailover.dns.service import DnsService

from .conftest import Address, tcp_connect, tcp_read_message
from .strategies import packets

GOOD = DNSRecord.question("IaS1.zone.test")
GOOD_WIRE = bytes(GOOD.pack())


def _check_good_reply(wire: bytes) -> None:
    reply = DNSRecord.parse(wire)
    assert reply.header.rcode == 0 and str(reply.rr[0].rdata) == "127.0.0.31"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(packet=packets())
def test_udp_survives_anything(v4: Address, packet: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.connect(v4)
        sock.send(packet)
        sock.send(GOOD_WIRE)
        # The reply to the packet (if any) may come first; the good one must come.
        for _ in range(2):
            wire = sock.recv(65535)
            if wire[:2] == GOOD_WIRE[:2] and len(wire) > 12 and wire[12:].startswith(GOOD_WIRE[12:]):
                _check_good_reply(wire)
                return
        raise AssertionError("no reply to the good query")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(packet=packets())
def test_tcp_survives_anything_on_the_same_connection(dns_service: DnsService, packet: bytes) -> None:
    with tcp_connect(dns_service.addresses[1]) as sock:
        sock.sendall(struct.pack("!H", len(packet)) + packet + struct.pack("!H", len(GOOD_WIRE)) + GOOD_WIRE)
        for _ in range(2):
            wire = tcp_read_message(sock)
            if wire[:2] == GOOD_WIRE[:2] and wire[12:].startswith(GOOD_WIRE[12:]):
                _check_good_reply(wire)
                return
        raise AssertionError("no reply to the good query")
