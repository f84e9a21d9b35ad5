"""Is the zone delegated to the cluster? Ask the domain DNS server for its NS records.

The most common set-up mistake is a delegation that does not lead to the cluster's
nodes: resolvers then never ask SimpleFailover. `simplefailover check` runs this when
`zone.domain_dns_server` is set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from ..config import Config, parse_hostport


@dataclass(frozen=True)
class NsTarget:
    """One NS name and the addresses it leads to."""

    name: str
    addresses: tuple[str, ...]
    nodes: tuple[str, ...]  # cluster node ids at those addresses


@dataclass
class DelegationReport:
    """What the domain DNS server says about the zone, and what is wrong with it."""

    server: str
    zone: str
    targets: list[NsTarget] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        """Lines a person reads."""
        lines = [f"delegation of {self.zone} at {self.server}:"]
        for target in self.targets:
            leads = ", ".join(
                f"{addr} ({node})" if node else f"{addr} (not a cluster node)"
                for addr, node in zip(target.addresses, target.nodes, strict=True)
            )
            lines.append(f"  NS {target.name} -> {leads or '(no address)'}")
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines.append("  verdict: " + ("delegation leads to the cluster" if self.ok else "fix the delegation"))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "server": self.server,
            "ok": self.ok,
            "ns": [
                {"name": t.name, "addresses": list(t.addresses), "nodes": list(t.nodes)} for t in self.targets
            ],
            "problems": self.problems,
            "warnings": self.warnings,
        }


def evaluate(
    config: Config, server: str, ns_addresses: dict[str, list[str]], error: str | None = None
) -> DelegationReport:
    """Judge a delegation (NS name -> addresses) against the config's nodes. Pure."""
    report = DelegationReport(server, config.zone.name)
    if error:
        report.problems.append(error)
        return report
    by_address: dict[str, str] = {}
    for node in config.nodes:
        by_address.setdefault(_norm(str(node.address)), node.id)
    if not ns_addresses:
        report.problems.append(
            f"{server} has no NS records for {config.zone.name}: the zone is not delegated"
        )
        return report
    reached: set[str] = set()
    for name, addresses in sorted(ns_addresses.items()):
        nodes = tuple(by_address.get(_norm(a), "") for a in addresses)
        reached.update(n for n in nodes if n)
        report.targets.append(NsTarget(name, tuple(addresses), nodes))
        if not addresses:
            report.problems.append(f"NS {name} has no address (no glue and no A/AAAA record at {server})")
        for address, node_id in zip(addresses, nodes, strict=True):
            if not node_id:
                report.problems.append(
                    f"NS {name} -> {address} is not a cluster node: resolvers sent there get no failover"
                )
    for node in config.nodes:
        if node.id not in reached:
            report.warnings.append(
                f"node {node.id} ({node.address}) is not among the NS targets: its instance is never asked"
            )
    return report


def _norm(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def check_delegation(config: Config, server: str, timeout: float = 3.0) -> DelegationReport:
    """Ask `server` (host[:port]) for the zone's NS records and judge them."""
    host, port = parse_hostport(server, 53)
    try:
        ns = _lookup(config.zone.name, host, port, timeout)
    except (dns.exception.DNSException, OSError) as exc:
        reason = "no answer (timeout)" if isinstance(exc, dns.exception.Timeout) else str(exc)
        return evaluate(config, server, {}, f"could not ask {server} for NS {config.zone.name}: {reason}")
    return evaluate(config, server, ns)


def _query(
    name: str, rdtype: dns.rdatatype.RdataType, host: str, port: int, timeout: float
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD  # what the server itself holds: the delegation, not a recursion
    response = dns.query.udp(query, host, port=port, timeout=timeout)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, host, port=port, timeout=timeout)
    return response


def _lookup(zone: str, host: str, port: int, timeout: float) -> dict[str, list[str]]:
    response = _query(zone, dns.rdatatype.NS, host, port, timeout)
    if response.rcode() not in (dns.rcode.NOERROR,):
        raise dns.exception.DNSException(f"answered {dns.rcode.to_text(response.rcode())}")
    zone_name = dns.name.from_text(zone)
    names: list[str] = []
    for section in (response.answer, response.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.NS and rrset.name == zone_name:
                names += [rdata.target.to_text() for rdata in rrset]
    glue: dict[str, list[str]] = {}
    for rrset in response.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            glue.setdefault(rrset.name.to_text(), []).extend(r.address for r in rrset)
    out: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        addresses = glue.get(name) or list(_addresses(name, host, port, timeout))
        out[name.rstrip(".")] = addresses
    return out


def _addresses(name: str, host: str, port: int, timeout: float) -> Iterable[str]:
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            response = _query(name, rdtype, host, port, timeout)
        except (dns.exception.DNSException, OSError):
            continue
        for rrset in response.answer:
            if rrset.rdtype == rdtype:
                yield from (r.address for r in rrset)
