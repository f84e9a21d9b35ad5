"""RFC 2136 on the wire (dnspython): read a name's A/AAAA from the server, send one signed UPDATE."""

from __future__ import annotations

import binascii
import logging

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update

from ..config import DnsUpdate, format_hostport
from .update_plan import Change, Records

logger = logging.getLogger(__name__)


class UpdateError(Exception):
    """An update or a read did not work; the text says what and where (never the secret)."""


class PrerequisiteFailed(UpdateError):
    """The server's records changed since they were read (another writer): read again."""


_TSIG_REFUSALS: dict[type[Exception], str] = {
    dns.tsig.PeerBadKey: "the server does not know TSIG key {key} (BADKEY)",
    dns.tsig.PeerBadSignature: "the server rejected the TSIG signature of key {key}: wrong secret? (BADSIG)",
    dns.tsig.PeerBadTime: "the server rejected the TSIG time: are the clocks in sync? (BADTIME)",
    dns.tsig.PeerBadTruncation: "the server rejected the TSIG MAC length (BADTRUNC)",
}


class UpdateClient:
    """Talks to the one server named in dns.update; every call is blocking, with the timeout."""

    def __init__(self, update: DnsUpdate, zone: str) -> None:
        self.update = update
        self.zone = dns.name.from_text(zone)
        self.where = format_hostport(str(update.server), update.port)

    def read(self, fqdn: str) -> Records:
        """What the server answers now for the name's A and AAAA (authoritative answers only)."""
        name = dns.name.from_text(fqdn)
        found: dict[int, tuple[frozenset[str], int]] = {}
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            query = dns.message.make_query(name, rdtype)
            query.flags &= ~dns.flags.RD
            reply = self._exchange(query, f"query {fqdn} {dns.rdatatype.to_text(rdtype)}")
            rcode = reply.rcode()
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                raise UpdateError(f"{self.where}: query {fqdn} answered {dns.rcode.to_text(rcode)}")
            if not reply.flags & dns.flags.AA:
                raise UpdateError(f"{self.where}: not authoritative for {fqdn} (is zone {self.zone} there?)")
            rrset = reply.get_rrset(reply.answer, name, dns.rdataclass.IN, rdtype)
            if rrset is None:
                found[rdtype] = (frozenset(), 0)
            else:
                found[rdtype] = (frozenset(rd.address for rd in rrset), rrset.ttl)
        (a, a_ttl), (aaaa, aaaa_ttl) = found[dns.rdatatype.A], found[dns.rdatatype.AAAA]
        ttl = a_ttl if a else aaaa_ttl
        if a and aaaa and a_ttl != aaaa_ttl:
            ttl = -1  # two TTLs cannot match one wanted TTL: rewrite both
        return Records(a, aaaa, ttl)

    def send(self, change: Change) -> None:
        """Send one UPDATE replacing the name's A and AAAA RRsets, if they still hold change.held."""
        message = dns.update.UpdateMessage(self.zone, keyring=self._key(), keyalgorithm=self.update.algorithm)
        name = dns.name.from_text(change.fqdn)
        for rdtype, held in (("A", change.held.a), ("AAAA", change.held.aaaa)):
            if held:
                message.present(name, rdtype, *sorted(held))
            else:
                message.absent(name, rdtype)
        message.delete(name, "A")
        message.delete(name, "AAAA")
        ttl = change.wanted.ttl
        for rdtype, wanted in (("A", change.wanted.a), ("AAAA", change.wanted.aaaa)):
            if wanted:
                message.add(name, ttl, rdtype, *sorted(wanted))
        reply = self._exchange(message, f"update {change.fqdn}")
        rcode = reply.rcode()
        if rcode in (dns.rcode.YXRRSET, dns.rcode.NXRRSET):
            raise PrerequisiteFailed(f"{self.where}: {change.fqdn} changed since it was read")
        if rcode != dns.rcode.NOERROR:
            raise UpdateError(f"{self.where}: update of {change.fqdn} refused: {_rcode_hint(rcode)}")

    def _key(self) -> dns.tsig.Key:
        update = self.update
        try:
            secret = update.secret()
        except (OSError, KeyError) as exc:
            where = f"file {update.secret_file}" if update.secret_file else f"variable {update.secret_env}"
            raise UpdateError(
                f"dns.update: cannot read the TSIG secret from {where}: {_plain(exc)}"
            ) from None
        try:
            return dns.tsig.Key(update.key_name, secret, update.algorithm)
        except (binascii.Error, ValueError):
            # Never echo the secret, not even in part.
            raise UpdateError("dns.update: the TSIG secret is not valid base64") from None

    def _exchange(self, message: dns.message.Message, what: str) -> dns.message.Message:
        update = self.update
        host = str(update.server)
        try:
            if update.transport == "udp":
                return dns.query.udp(message, host, port=update.port, timeout=update.timeout)
            return dns.query.tcp(message, host, port=update.port, timeout=update.timeout)
        except dns.exception.Timeout:
            raise UpdateError(f"{self.where}: {what}: no answer within {update.timeout:g} s") from None
        except dns.tsig.PeerError as exc:
            text = _TSIG_REFUSALS.get(type(exc), "TSIG refused by the server ({error})")
            raise UpdateError(
                f"{self.where}: {what}: " + text.format(key=update.key_name, error=exc)
            ) from None
        except (dns.exception.DNSException, OSError) as exc:
            raise UpdateError(f"{self.where}: {what}: {_plain(exc)}") from None


def _rcode_hint(rcode: int) -> str:
    text = dns.rcode.to_text(rcode)  # type: ignore[arg-type]
    hints = {
        dns.rcode.REFUSED: "REFUSED (does allow-update/update-policy grant this key the name?)",
        dns.rcode.NOTAUTH: "NOTAUTH (the server is not authoritative for the zone, or the key is wrong)",
        dns.rcode.NOTZONE: "NOTZONE (the name is outside dns.update.zone)",
        dns.rcode.SERVFAIL: "SERVFAIL (the server could not apply it; see its log)",
    }
    return hints.get(rcode, text)  # type: ignore[call-overload]


def _plain(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
