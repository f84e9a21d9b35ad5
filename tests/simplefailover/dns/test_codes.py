"""Every response-code path of SF-4 over real UDP and TCP sockets (dnslib as the client)."""

from __future__ import annotations

import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from simplefailover.dns.service import DnsService

from .conftest import Address, exchange

TRANSPORTS = ["udp", "tcp"]


def ask(transport: str, address: Address, name: str, qtype: str = "A", **edns: object) -> DNSRecord:
    query = DNSRecord.question(name, qtype)
    query.header.rd = 1
    if edns:
        query.add_ar(EDNS0(**edns))
    reply = DNSRecord.parse(exchange(transport, address, bytes(query.pack())))
    assert reply.header.id == query.header.id
    assert reply.header.qr == 1 and reply.header.ra == 0 and reply.header.rd == 1
    return reply


def records(section: list) -> list[tuple[str, str, int, str]]:
    return [(str(rr.rname), QTYPE[rr.rtype], rr.ttl, str(rr.rdata)) for rr in section]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_failover_record_is_the_best_ok_node(transport: str, v4: Address) -> None:
    reply = ask(transport, v4, "ias1.zone.test")
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1
    assert records(reply.rr) == [("ias1.zone.test.", "A", 30, "127.0.0.31")]
    assert reply.auth == [] and reply.ar == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_aaaa_and_nodata(transport: str, v6: Address) -> None:
    reply = ask(transport, v6, "ias6.zone.test", "AAAA")
    assert records(reply.rr) == [("ias6.zone.test.", "AAAA", 30, "::1")]
    nodata = ask(transport, v6, "ias6.zone.test", "A")
    assert nodata.header.rcode == RCODE.NOERROR and nodata.header.aa == 1 and nodata.rr == []
    assert [(n, t, ttl) for n, t, ttl, _ in records(nodata.auth)] == [("zone.test.", "SOA", 60)]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("name", "qtype"),
    [("ias1.zone.test", "TXT"), ("ias1.zone.test", "MX"), ("none.zone.test", "A"), ("sub.zone.test", "A")],
)
def test_nodata_carries_soa_minimum(transport: str, v4: Address, name: str, qtype: str) -> None:
    reply = ask(transport, v4, name, qtype)
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1 and reply.rr == []
    assert [(n, t, ttl) for n, t, ttl, _ in records(reply.auth)] == [("zone.test.", "SOA", 60)]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("name", ["nope.zone.test", "x.ias1.zone.test", "a.b.zone.test"])
def test_unknown_name_is_nxdomain_with_soa(transport: str, v4: Address, name: str) -> None:
    reply = ask(transport, v4, name)
    assert reply.header.rcode == RCODE.NXDOMAIN and reply.header.aa == 1 and reply.rr == []
    soa = reply.auth[0]
    assert QTYPE[soa.rtype] == "SOA" and soa.ttl == 60 and soa.rdata.times[4] == 60


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("name", ["example.com", "test", "zone.test.evil", "xzone.test"])
def test_outside_the_zone_is_refused(transport: str, v4: Address, name: str) -> None:
    reply = ask(transport, v4, name)
    assert reply.header.rcode == RCODE.REFUSED and reply.header.aa == 0 and reply.rr == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_soa_and_ns_at_apex_with_glue(transport: str, v4: Address, dns_service: DnsService) -> None:
    soa = ask(transport, v4, "zone.test", "SOA")
    assert records(soa.rr)[0][:2] == ("zone.test.", "SOA")
    rdata = soa.rr[0].rdata
    assert str(rdata.mname) == "ns1.zone.test." and str(rdata.rname) == "hostmaster.zone.test."
    assert rdata.times[0] == dns_service.responder.data.serial > 0
    ns = ask(transport, v4, "zone.test", "NS")
    assert sorted(r[3] for r in records(ns.rr)) == ["ns.outside.test.", "ns1.zone.test.", "ns2.zone.test."]
    # Glue only for the names inside the zone.
    assert sorted((r[0], r[1], r[3]) for r in records(ns.ar)) == [
        ("ns1.zone.test.", "A", "127.0.0.30"),
        ("ns2.zone.test.", "AAAA", "::1"),
    ]
    glue = ask(transport, v4, "ns1.zone.test", "A")
    assert records(glue.rr) == [("ns1.zone.test.", "A", 3600, "127.0.0.30")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_any_is_answered_minimally(transport: str, v4: Address) -> None:
    apex = ask(transport, v4, "zone.test", "ANY")
    assert [r[1] for r in records(apex.rr)] == ["SOA"]
    host = ask(transport, v4, "down.zone.test", "ANY")
    assert {r[1] for r in records(host.rr)} == {"A"}  # one RRset (RFC 8482), not A and AAAA


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_zone_transfer_is_refused(transport: str, v4: Address) -> None:
    assert ask(transport, v4, "zone.test", "AXFR").header.rcode == RCODE.REFUSED


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("opcode", [1, 2, 4, 5])
def test_other_opcodes_are_notimp(transport: str, v4: Address, opcode: int) -> None:
    query = DNSRecord.question("ias1.zone.test")
    query.header.opcode = opcode
    reply = DNSRecord.parse(exchange(transport, v4, bytes(query.pack())))
    assert reply.header.id == query.header.id and reply.header.qr == 1
    assert reply.header.rcode == RCODE.NOTIMP and reply.header.opcode == opcode


OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # root, OPT, 1232, no options


def _header(ident: int, qd: int, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x0100, qd, an, ns, ar)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "message",
    [
        _header(7, 0),  # no question
        _header(7, 2) + b"\x01a\x00\x00\x01\x00\x01" * 2,  # two questions
        _header(7, 1) + b"\x01a",  # truncated name
        _header(7, 1) + b"\x01a\x00\x00",  # truncated type/class
        _header(7, 1) + b"\xc0\x0c\x00\x01\x00\x01",  # compression loop
        _header(7, 1) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",  # label too long
        _header(7, 1, ar=2) + b"\x01a\x00\x00\x01\x00\x01" + OPT + OPT,  # two OPT records
        _header(7, 1, ar=1) + b"\x01a\x00\x00\x01\x00\x01" + OPT[:-1] + b"\x09",  # OPT rdata cut
        _header(7, 1, an=65535) + b"\x01a\x00\x00\x01\x00\x01",  # huge count
    ],
)
def test_malformed_is_formerr(transport: str, v4: Address, message: bytes) -> None:
    reply = exchange(transport, v4, message)
    ident, flags = struct.unpack("!HH", reply[:4])
    assert ident == 7 and flags & 0x8000 and flags & 0x000F == RCODE.FORMERR


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_edns_is_echoed_with_our_size(transport: str, v4: Address) -> None:
    plain = ask(transport, v4, "ias1.zone.test")
    assert plain.ar == []
    reply = ask(transport, v4, "ias1.zone.test", udp_len=4096, flags="do")
    (opt,) = reply.ar
    assert opt.rtype == 41 and opt.rclass == 1232 and opt.ttl & 0x8000  # DO copied (RFC 3225)
    badvers = ask(transport, v4, "ias1.zone.test", udp_len=4096, version=1)
    (opt,) = badvers.ar
    assert badvers.rr == [] and (opt.ttl >> 24) << 4 | badvers.header.rcode == 16  # BADVERS


def test_oversized_answer_is_truncated_over_udp_only(v4: Address) -> None:
    small = ask("udp", v4, "down.zone.test", "AAAA")  # ::1 and 30 more AAAA: over 512 bytes
    assert small.header.tc == 1 and small.rr == [] and str(small.q.qname) == "down.zone.test."
    edns = ask("udp", v4, "down.zone.test", "AAAA", udp_len=1232)
    assert edns.header.tc == 0 and len(edns.rr) == 31 and edns.ar[0].rtype == 41
    tcp = ask("tcp", v4, "down.zone.test", "AAAA")
    assert tcp.header.tc == 0 and len(tcp.rr) == 31


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_question_is_echoed_byte_for_byte(transport: str, v4: Address) -> None:
    for name in ("iAs1.ZoNe.TeSt", "IAS1.ZONE.TEST", "ias1.zone.test", "NoPe.zOnE.tEsT"):
        query = bytes(DNSRecord.question(name, "A").pack())
        for _ in range(2):  # the second comes from the cache of pre-encoded replies
            reply = exchange(transport, v4, query)
            assert reply[:2] == query[:2] and reply[12 : len(query)] == query[12:]


def test_qclass_other_than_in_is_refused(v4: Address) -> None:
    query = DNSRecord.question("ias1.zone.test", "A", "CH")
    reply = DNSRecord.parse(exchange("udp", v4, bytes(query.pack())))
    assert reply.header.rcode == RCODE.REFUSED


def test_a_response_is_never_answered(v4: Address) -> None:
    reply = DNSRecord.question("ias1.zone.test").reply()  # QR set: answering could loop
    with pytest.raises(TimeoutError):
        exchange_short(v4, bytes(reply.pack()))


def exchange_short(address: Address, message: bytes) -> bytes:
    from .conftest import udp_exchange

    return udp_exchange(address, message, timeout=0.3)
