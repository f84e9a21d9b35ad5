"""The dns poller: ask the node one question; judge the response code and, optionally, the answer."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..config import DnsPolling, Node
from .result import PollResult
from .tcp import os_error

if TYPE_CHECKING:
    import dns.message


class DnsPoller:
    """Checks one dns polling against any node; never raises for a down node."""

    def __init__(self, polling: DnsPolling) -> None:
        import dns.rcode  # dnspython only where a dns polling is configured (35 ms of start-up)
        import dns.rdatatype

        self.polling = polling
        self._rcode = dns.rcode.from_text(polling.expect_rcode)
        self._rdtype = dns.rdatatype.from_text(polling.type)

    def check(self, node: Node) -> PollResult:
        """Send the query to node and return the verdict."""
        import dns.exception

        start = time.monotonic()
        try:
            reply = self._ask(str(node.address))
            error = self._judge(reply, str(node.address))
        except dns.exception.Timeout:
            error = f"no DNS reply within {self.polling.timeout:g}s ({self.polling.transport})"
        except ConnectionRefusedError:
            error = "connection refused"
        except OSError as exc:
            error = os_error(exc)
        except dns.exception.DNSException as exc:  # malformed reply, wrong id, ...
            error = f"bad DNS reply: {exc}"
        return PollResult(not error, time.monotonic() - start, error, time.time())

    def _ask(self, address: str) -> dns.message.Message:
        import dns.flags
        import dns.message
        import dns.query

        polling = self.polling
        query = dns.message.make_query(polling.name, self._rdtype)
        if not polling.recursion:
            query.flags &= ~dns.flags.RD
        if polling.transport == "tcp":
            return dns.query.tcp(query, address, timeout=polling.timeout, port=polling.port)
        # A truncated UDP reply is asked again over TCP, as a resolver would.
        reply, _ = dns.query.udp_with_fallback(query, address, timeout=polling.timeout, port=polling.port)
        return reply

    def _judge(self, reply: dns.message.Message, address: str) -> str:
        import dns.rcode

        polling = self.polling
        rcode = reply.rcode()
        if rcode != self._rcode:
            return f"rcode {dns.rcode.to_text(rcode)} (expected {polling.expect_rcode})"
        wanted = polling.expect_answer
        if wanted is None:
            return ""
        wanted = wanted.replace("{address}", address)
        found = [rdata.to_text() for rrset in reply.answer if rrset.rdtype == self._rdtype for rdata in rrset]
        if any(_same(text, wanted) for text in found):
            return ""
        shown = ", ".join(found[:5]) or "no record"
        return f"answer {shown} (expected {wanted})"


def _same(found: str, wanted: str) -> bool:
    """Compare record texts, forgiving case and a missing final dot on names."""
    a, b = found.lower().split(), wanted.lower().split()
    return len(a) == len(b) and all(x.rstrip(".") == y.rstrip(".") for x, y in zip(a, b, strict=True))
