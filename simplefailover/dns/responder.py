"""Bytes in, bytes out: the wire side of answering, with a cache of pre-encoded replies.

The hot path does no DNS parsing at all. A reply computed by the full path is kept,
keyed by the query with its ID dropped and its bytes lower-cased; a later query that
matches (and whose non-name bytes match exactly, since lower-casing also folds
counts and types) gets the stored reply with its own ID and its own question bytes
spliced in, so 0x20 mixed case is echoed as sent. Label length bytes are below 0x41
and survive lower-casing, so a match has the same name layout, and the stored
reply's compression pointers into the question stay valid.

The cache lives in the `_Served` object that is swapped whole when the zone data
changes: a query sees one version of the table, never half of two.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import struct
import time
from dataclasses import dataclass, field

from dnslib import EDNS0, DNSRecord

from .answers import BADVERS, FORMERR, NOTIMP, RCODE_NAMES, SERVFAIL, TYPE_OPT, Answerer, reply_header
from .zone import ZoneData

logger = logging.getLogger(__name__)

OUR_UDP_SIZE = 1232  # what we advertise (DNS flag day 2020): no IP fragmentation
CACHE_LIMIT = 4096  # entries; a random-name flood only clears it, never grows memory
HEADER = struct.Struct("!HHHHHH")


@dataclass(frozen=True, slots=True)
class _Entry:
    head: bytes  # query bytes 2..12 (flags and counts), exact
    qend: int  # end of the question section
    after: bytes  # query bytes after the question (the OPT record), exact
    prefix: bytes  # reply bytes 2..12
    tails: tuple[bytes, ...]  # reply bytes after the question: one per form of the answer
    rcode: int
    wheel: tuple[int, ...] = ()  # form indices, each as often as its weight; empty: rotate in turn


@dataclass(slots=True)
class _Served:
    answerer: Answerer
    cache: dict[bytes, _Entry] = field(default_factory=dict)


class Responder:
    """Answers DNS messages from the current zone data; safe to call from many threads."""

    def __init__(self, data: ZoneData) -> None:
        self._served = _Served(Answerer(data))
        self.counts = [0] * 24  # by rcode; plain list: the hot path must stay cheap
        self._turn = itertools.count()  # rotation of multi-address answers (next() holds the GIL)
        self._last_error_log = 0.0

    @property
    def data(self) -> ZoneData:
        return self._served.answerer.data

    def update(self, data: ZoneData) -> bool:
        """Serve new zone data from the next query on; return whether it changed."""
        if data == self._served.answerer.data:
            return False
        self._served = _Served(Answerer(data))  # one assignment: atomic for readers
        return True

    def count_by_name(self) -> dict[str, int]:
        """Queries answered so far, by response code name."""
        return {RCODE_NAMES.get(code, str(code)): n for code, n in enumerate(self.counts) if n}

    def respond(self, data: bytes, udp: bool) -> bytes | None:
        """The reply to one message, or None when it deserves none (a response, a runt)."""
        served = self._served
        entry = served.cache.get(data[2:].lower())
        if entry is not None and data[2:12] == entry.head and data[entry.qend :] == entry.after:
            self.counts[entry.rcode] += 1
            tails = entry.tails
            tail = tails[0] if len(tails) == 1 else tails[self._pick(len(tails), entry.wheel)]
            return data[:2] + entry.prefix + data[12 : entry.qend] + tail
        if len(data) < 12 or data[2] & 0x80:
            return None  # no ID to answer to, or a response: answering could loop
        try:
            reply, rcode = self._full(served, data, udp)
        except Exception:
            now = time.monotonic()
            if now - self._last_error_log > 10:  # a flood of one bug must not flood the log
                self._last_error_log = now
                logger.exception("internal error answering a DNS query; replying SERVFAIL")
            reply, rcode = _header_only(data, SERVFAIL), SERVFAIL
        self.counts[rcode] += 1
        return reply

    def _full(self, served: _Served, data: bytes, udp: bool) -> tuple[bytes, int]:
        """Parse with dnslib and answer; store the reply when the query has the plain form."""
        _, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
        if (flags >> 11) & 0xF != 0:
            return _header_only(data, NOTIMP), NOTIMP
        if qdcount != 1:
            return _header_only(data, FORMERR), FORMERR
        qend = question_end(data)
        if qend is None:
            return _header_only(data, FORMERR), FORMERR
        try:
            request = DNSRecord.parse(data)
        except Exception:  # dnslib raises several kinds on bad input (and on non-UTF-8 labels)
            return _header_only(data, FORMERR), FORMERR
        opts = [rr for rr in request.ar if rr.rtype == TYPE_OPT]
        if len(opts) > 1 or (opts and opts[0].rname.label != ()):
            return _header_only(data, FORMERR, data[12:qend]), FORMERR
        opt = opts[0] if opts else None
        limit = max(512, opt.rclass) if opt is not None else 512
        if opt is not None and (opt.ttl >> 16) & 0xFF != 0:
            reply = DNSRecord(reply_header(request.header, 0), q=request.q)
            reply.add_ar(EDNS0(udp_len=OUR_UDP_SIZE, ext_rcode=BADVERS >> 4))
            return reply.pack(), BADVERS
        count, weights = served.answerer.variants_of(request)
        wheel = _wheel(weights)
        forms = []
        for variant in range(count):  # every form of the answer, stored together
            reply = served.answerer.answer(request, variant)
            if opt is not None:
                reply.add_ar(EDNS0(udp_len=OUR_UDP_SIZE, flags="do" if opt.ttl & 0x8000 else ""))
            forms.append((reply, bytes(reply.pack())))
        reply, wire = forms[self._pick(count, wheel)] if count > 1 else forms[0]
        rcode = reply.header.rcode
        if len(wire) > limit:
            if udp:
                return _truncated(reply), rcode
        elif (
            rcode != SERVFAIL
            and ancount == nscount == 0
            and ((arcount == 0 and qend == len(data)) or (arcount == 1 and _plain_opt(data, qend)))
            and wire[12:qend].lower() == data[12:qend].lower()
        ):
            if len(served.cache) >= CACHE_LIMIT:
                served.cache.clear()
            if all(len(w) <= limit for _, w in forms):
                tails = tuple(w[qend:] for _, w in forms)
                served.cache[data[2:].lower()] = _Entry(
                    data[2:12], qend, data[qend:], wire[2:12], tails, rcode, wheel
                )
        return wire, rcode

    def _pick(self, count: int, wheel: tuple[int, ...]) -> int:
        """Which form to serve: drawn by weight (a wheel given), else the next in turn."""
        if wheel:
            return wheel[int(random.random() * len(wheel))]
        return next(self._turn) % count


WHEEL_MAX = 4096  # entries: weights are scaled down (keeping every weight > 0 present) above this


def _wheel(weights: tuple[int, ...]) -> tuple[int, ...]:
    """Form indices repeated by weight (divided by their gcd), so a uniform draw follows the weights."""
    if not weights:
        return ()
    common = math.gcd(*weights)
    counts = [w // common for w in weights]
    total = sum(counts)
    if total > WHEEL_MAX:
        counts = [max(1, round(c * WHEEL_MAX / total)) if c else 0 for c in counts]
    return tuple(i for i, c in enumerate(counts) for _ in range(c))


def question_end(data: bytes) -> int | None:
    """Offset just past the one question, or None when its name is malformed or compressed."""
    offset = 12
    end = len(data)
    while True:
        if offset >= end:
            return None
        length = data[offset]
        if length == 0:
            break
        if length > 63:  # a pointer (nothing precedes the question to point to) or reserved
            return None
        offset += length + 1
        if offset - 12 > 255:
            return None
    offset += 5  # root label, type, class
    return offset if offset <= end else None


def _plain_opt(data: bytes, qend: int) -> bool:
    """Whether the rest of the message is exactly one OPT record owned by the root."""
    if len(data) < qend + 11 or data[qend : qend + 3] != b"\x00\x00\x29":
        return False
    (rdlength,) = struct.unpack_from("!H", data, qend + 9)
    return qend + 11 + rdlength == len(data)


def _header_only(data: bytes, rcode: int, question: bytes = b"") -> bytes:
    """A reply of only a header (and the question when it was readable)."""
    ident, flags = struct.unpack_from("!HH", data)
    flags = 0x8000 | (flags & 0x7900) | (flags & 0x0010) | rcode  # QR, opcode, RD, CD kept
    return HEADER.pack(ident, flags, 1 if question else 0, 0, 0, 0) + question


def _truncated(reply: DNSRecord) -> bytes:
    """The reply cut to its question and OPT record, with TC set (RFC 2181 9, RFC 6891 7)."""
    cut = DNSRecord(reply.header, q=reply.q)
    cut.header.tc = 1
    for rr in reply.ar:
        if rr.rtype == TYPE_OPT:
            cut.add_ar(rr)
    return bytes(cut.pack())
