"""What to answer: one parsed query in, one reply out (SPEC SF-4). No sockets here.

Built once per change of the served data (`ZoneData`), then only read, so any number of
threads can answer from one `Answerer` at the same time.
"""

from __future__ import annotations

import ipaddress

from dnslib import AAAA, NS, QTYPE, RR, SOA, A, DNSHeader, DNSLabel, DNSQuestion, DNSRecord
from dnslib.dns import RD

from .zone import ZoneData

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16
RCODE_NAMES = {
    NOERROR: "NOERROR",
    FORMERR: "FORMERR",
    SERVFAIL: "SERVFAIL",
    NXDOMAIN: "NXDOMAIN",
    NOTIMP: "NOTIMP",
    REFUSED: "REFUSED",
    BADVERS: "BADVERS",
}
CLASS_IN, CLASS_ANY = 1, 255
TYPE_A, TYPE_NS, TYPE_SOA, TYPE_AAAA = 1, 2, 6, 28
TYPE_OPT, TYPE_IXFR, TYPE_AXFR, TYPE_MAILB, TYPE_MAILA, TYPE_ANY = 41, 251, 252, 253, 254, 255

Labels = tuple[bytes, ...]
RRset = tuple[int, int, list[RD]]  # (type, ttl, rdatas)


def name_key(name: str) -> Labels:
    """A configured DNS name as lower-case wire labels."""
    return tuple(part.encode() for part in name.lower().rstrip(".").split(".") if part)


def reply_header(request: DNSHeader, rcode: int, aa: bool = False) -> DNSHeader:
    """A response header for request: ID, opcode, RD and CD copied, RA never set."""
    header = DNSHeader(id=request.id, qr=1, opcode=request.opcode, rd=request.rd, ra=0, aa=int(aa))
    header.cd = request.cd
    header.rcode = rcode
    return header


class Answerer:
    """The zone's records, indexed for answering queries about them."""

    def __init__(self, data: ZoneData) -> None:
        self.data = data
        self.zone = name_key(data.name)
        self.apex = DNSLabel(data.name)
        self.soa = SOA(
            data.mname, data.rname, (data.serial, data.refresh, data.retry, data.expire, data.minimum)
        )
        self.rrsets: dict[Labels, dict[int, RRset]] = {}
        self.hosts: set[Labels] = set()
        apex = self._node(self.zone)
        apex[TYPE_SOA] = (TYPE_SOA, data.apex_ttl, [self.soa])
        if data.nameservers:
            apex[TYPE_NS] = (TYPE_NS, data.apex_ttl, [NS(name) for name, _ in data.nameservers])
        self.variants: dict[Labels, tuple[int, ...]] = {}  # multi-address hosts: see variants_of
        self.glue: list[RR] = []
        for name, address in data.nameservers:
            key = name_key(name)
            if address is None or not self._in_zone(key):
                continue
            rtype, rdata = _address_rdata(address)
            self.glue.append(RR(DNSLabel(name), rtype, rdata=rdata, ttl=data.apex_ttl))
            self._add(key, rtype, data.apex_ttl, rdata)
        for host in data.hosts:
            key = name_key(host.fqdn)
            self.hosts.add(key)
            self.rrsets.pop(key, None)  # a hostname wins over a nameserver of the same name
            self._node(key)
            for address in host.addresses:
                rtype, rdata = _address_rdata(address)
                self._add(key, rtype, host.ttl, rdata)
            if len(host.addresses) > 1:  # rotated, or one per query by weight (SF-12)
                self.variants[key] = host.weights or ()
        # Every ancestor of a name inside the zone exists (empty non-terminal, RFC 8020).
        self.names: set[Labels] = set()
        for key in self.rrsets:
            for cut in range(len(key) - len(self.zone) + 1):
                self.names.add(key[cut:])

    def _in_zone(self, key: Labels) -> bool:
        return key[len(key) - len(self.zone) :] == self.zone if len(key) >= len(self.zone) else False

    def _node(self, key: Labels) -> dict[int, RRset]:
        return self.rrsets.setdefault(key, {})

    def _add(self, key: Labels, rtype: int, ttl: int, rdata: RD) -> None:
        node = self._node(key)
        node.setdefault(rtype, (rtype, ttl, []))[2].append(rdata)

    def variants_of(self, request: DNSRecord) -> tuple[int, tuple[int, ...]]:
        """How many forms the answer to this query has, and their weights (none: rotate them).

        A hostname with several addresses is answered in as many forms: each address first
        in turn (rotation), or, with weights, each address alone (one per query, by weight).
        """
        key = tuple(label.lower() for label in request.q.qname.label)
        weights = self.variants.get(key)
        if weights is None or request.q.qtype not in (TYPE_A, TYPE_AAAA, TYPE_ANY):
            return 1, ()
        rrset = self.rrsets.get(key, {}).get(request.q.qtype if request.q.qtype != TYPE_ANY else TYPE_A)
        count = len(rrset[2]) if rrset else 0
        if count < 2 or (weights and len(weights) != count):  # mixed families: one form, as before
            return 1, ()
        return count, weights

    def answer(self, request: DNSRecord, variant: int = 0) -> DNSRecord:
        """Answer one well-formed query with exactly one question (EDNS is the caller's).

        variant: which form of a multi-address answer (see `variants_of`).
        """
        question: DNSQuestion = request.q
        key = tuple(label.lower() for label in question.qname.label)
        qtype, qclass = question.qtype, question.qclass
        if qclass not in (CLASS_IN, CLASS_ANY) or not self._in_zone(key):
            return DNSRecord(reply_header(request.header, REFUSED), q=question)
        if qtype in (TYPE_AXFR, TYPE_IXFR):  # no zone transfers: the data lives in the engine
            return DNSRecord(reply_header(request.header, REFUSED), q=question)
        if qtype in (TYPE_MAILA, TYPE_MAILB):
            return DNSRecord(reply_header(request.header, NOTIMP), q=question)
        if key in self.hosts and not self.data.ready:
            # Before the first round of polls an answer would be a guess: let the
            # resolver ask another instance (docs/dns.md).
            return DNSRecord(reply_header(request.header, SERVFAIL), q=question)
        if key not in self.names:
            return self._negative(request, NXDOMAIN)
        node = self.rrsets.get(key, {})
        rrset = node.get(qtype)
        if qtype == TYPE_ANY:  # RFC 8482: one RRset is enough
            rrset = next((node[t] for t in (TYPE_SOA, TYPE_A, TYPE_AAAA) if t in node), None)
        if rrset is None:
            return self._negative(request, NOERROR)
        reply = DNSRecord(reply_header(request.header, NOERROR, aa=True), q=question)
        rtype, ttl, rdatas = rrset
        forms = self.variants.get(key)
        if forms is not None and rtype in (TYPE_A, TYPE_AAAA) and len(rdatas) > 1:
            turn = variant % len(rdatas)
            rdatas = [rdatas[turn]] if forms and len(forms) == len(rdatas) else rdatas[turn:] + rdatas[:turn]
        for rdata in rdatas:
            # The owner is the question's own name, so it compresses to a pointer to it.
            reply.add_answer(RR(question.qname, rtype, rdata=rdata, ttl=ttl))
        if rtype == TYPE_NS:
            for glue in self.glue:
                reply.add_ar(glue)
        return reply

    def _negative(self, request: DNSRecord, rcode: int) -> DNSRecord:
        """NXDOMAIN or NODATA, with the SOA whose TTL is the negative TTL (RFC 2308)."""
        reply = DNSRecord(reply_header(request.header, rcode, aa=True), q=request.q)
        reply.add_auth(RR(self.apex, TYPE_SOA, rdata=self.soa, ttl=self.data.minimum))
        return reply


def _address_rdata(address: str) -> tuple[int, RD]:
    if ipaddress.ip_address(address).version == 6:
        return TYPE_AAAA, AAAA(address)
    return TYPE_A, A(address)


def qtype_name(qtype: int) -> str:
    """A query type as text, for logs."""
    return str(QTYPE.get(qtype, qtype))
