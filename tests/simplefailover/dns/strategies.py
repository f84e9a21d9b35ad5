"""Hypothesis strategies for DNS messages: good ones, and broken ones made from them."""

from __future__ import annotations

import struct

from dnslib import EDNS0, QTYPE, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import strategies as st

NAMES = ["ias1.zone.test", "ias6.zone.test", "down.zone.test", "zone.test", "nope.zone.test", "example.com"]
TYPES = ["A", "AAAA", "SOA", "NS", "ANY", "TXT", "MX"]


def _case(name: str, mask: int) -> str:
    return "".join(c.upper() if mask >> (i % 60) & 1 else c for i, c in enumerate(name))


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    """A well-formed query: any case, type, RD bit, with or without EDNS."""
    name = _case(draw(st.sampled_from(NAMES)), draw(st.integers(0, 2**60)))
    header = DNSHeader(id=draw(st.integers(0, 0xFFFF)), rd=draw(st.integers(0, 1)))
    query = DNSRecord(header, q=DNSQuestion(name, getattr(QTYPE, draw(st.sampled_from(TYPES)))))
    if draw(st.booleans()):
        query.add_ar(EDNS0(udp_len=draw(st.integers(0, 0xFFFF)), flags=draw(st.sampled_from(["", "do"]))))
    return bytes(query.pack())


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A good query broken in one of the ways seen on the wire."""
    data = bytearray(draw(queries()))
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "counts", "loop", "label", "opt", "append"]))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=20))
    elif kind == "counts":
        struct.pack_into("!HHHH", data, 4, *(draw(st.sampled_from([0, 1, 2, 255, 0xFFFF])) for _ in range(4)))
    elif kind == "loop":  # a compression pointer to itself or back into the header
        data[12:] = struct.pack("!H", 0xC000 | draw(st.integers(0, 13))) + b"\x00\x01\x00\x01"
    elif kind == "label":  # reserved label types 0x40/0x80, or a label running past the end
        data[12] = draw(st.sampled_from([0x40, 0x41, 0x80, 0xBF, 63]))
    elif kind == "opt":  # garbage EDNS: bad option lengths, versions, owner names
        struct.pack_into("!H", data, 10, draw(st.integers(1, 3)))
        garbage = draw(st.binary(max_size=30))
        rdlength = draw(st.integers(0, 0xFFFF))
        owner = draw(st.sampled_from([b"\x00", b"\x01a\x00", b"\xc0\x0c"]))
        data += owner + struct.pack("!HHIH", 41, 1232, draw(st.integers(0, 2**32 - 1)), rdlength) + garbage
    else:
        data += draw(st.binary(min_size=1, max_size=40))
    return bytes(data)


def packets() -> st.SearchStrategy[bytes]:
    """Anything: random bytes, broken queries, good queries."""
    return st.one_of(st.binary(max_size=600), mutated(), queries())
