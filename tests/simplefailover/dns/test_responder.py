"""The responder without sockets: cache correctness, swaps, and never crashing on any input."""

from __future__ import annotations

import time
from dataclasses import replace

from dnslib import DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simplefailover.dns.responder import Responder, question_end
from simplefailover.dns.zone import HostData, ZoneData, zone_data
from simplefailover.engine import Engine

from .conftest import feed, make_config
from .strategies import packets, queries


def served() -> ZoneData:
    engine = Engine(make_config())
    feed(engine)
    return zone_data(engine.config, engine.table, engine.check_state)


DATA = served()


def ask(name: str, qtype: str = "A") -> bytes:
    return bytes(DNSRecord.question(name, qtype).pack())


def meaning(wire: bytes) -> tuple[object, ...]:
    """What a reply says, ignoring name case outside the question and compression."""
    reply = DNSRecord.parse(wire)

    def rrs(section: list) -> list[tuple[str, int, int, str]]:
        return sorted((str(r.rname).lower(), r.rtype, r.ttl, str(r.rdata).lower()) for r in section)

    return (wire[2:12], wire[12 : question_end(wire)], rrs(reply.rr), rrs(reply.auth), rrs(reply.ar))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(first=queries(), second=queries(), udp=st.booleans())
def test_cached_reply_means_what_the_full_path_says(first: bytes, second: bytes, udp: bool) -> None:
    warm = Responder(DATA)
    warm.respond(first, udp)
    warm.respond(second, udp)  # fills the cache for its own form
    cached = warm.respond(second, udp)
    fresh = Responder(DATA).respond(second, udp)
    assert cached is not None and fresh is not None
    assert meaning(cached) == meaning(fresh)
    assert cached[:2] == second[:2] and cached[12 : question_end(second)] == second[12 : question_end(second)]


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(packet=packets(), udp=st.booleans())
def test_any_input_gets_a_proper_reply_or_none(packet: bytes, udp: bool) -> None:
    responder = Responder(DATA)
    reply = responder.respond(packet, udp)
    if reply is None:
        assert len(packet) < 12 or packet[2] & 0x80
        return
    assert reply[:2] == packet[:2] and reply[2] & 0x80  # our ID back, QR set
    DNSRecord.parse(reply)  # well-formed
    assert not udp or len(reply) <= 65535
    assert sum(responder.counts) == 1


def test_update_swaps_the_whole_table_and_its_cache() -> None:
    responder = Responder(DATA)
    query = bytes(DNSRecord.question("ias1.zone.test").pack())
    responder.respond(query, True)
    before = DNSRecord.parse(responder.respond(query, True))  # from the cache
    hosts = tuple(
        replace(h, addresses=("127.0.0.32",)) if h.fqdn == "ias1.zone.test" else h for h in DATA.hosts
    )
    assert responder.update(replace(DATA, hosts=hosts, serial=DATA.serial + 1))
    assert not responder.update(replace(DATA, hosts=hosts, serial=DATA.serial + 1))  # equal: kept
    after = DNSRecord.parse(responder.respond(query, True))
    assert str(before.rr[0].rdata) == "127.0.0.31" and str(after.rr[0].rdata) == "127.0.0.32"


def test_serial_of_the_table_is_served() -> None:
    data = replace(DATA, serial=int(time.time()) + 5)
    reply = DNSRecord.parse(
        Responder(data).respond(bytes(DNSRecord.question("zone.test", "SOA").pack()), True)
    )
    assert reply.rr[0].rdata.times[0] == data.serial


def test_hostname_with_no_address_is_nodata() -> None:
    data = replace(DATA, hosts=(HostData("empty.zone.test", (), 30),))
    reply = DNSRecord.parse(
        Responder(data).respond(bytes(DNSRecord.question("empty.zone.test").pack()), True)
    )
    assert reply.header.rcode == 0 and reply.rr == [] and reply.auth[0].rtype == 6


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(good=queries(), packet=packets(), udp=st.booleans())
def test_cache_never_answers_a_different_query(good: bytes, packet: bytes, udp: bool) -> None:
    warm = Responder(DATA)
    warm.respond(good, udp)
    warm.respond(good, udp)
    from_warm, from_fresh = warm.respond(packet, udp), Responder(DATA).respond(packet, udp)
    assert (from_warm is None) == (from_fresh is None)
    if from_warm is not None and from_fresh is not None:
        if question_end(from_fresh) is None:  # header-only errors: compare bytes
            assert from_warm == from_fresh
        else:
            assert meaning(from_warm) == meaning(from_fresh)
