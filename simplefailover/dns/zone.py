"""What the responder serves, as plain data: built from the config and the answer table.

A `ZoneData` holds only strings, numbers and tuples, so it compares cheaply (the
responder rebuilds its answers only when it changes) and pickles into worker processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..config import Config
from ..state import AnswerTable, CheckState, Status

CheckLookup = Callable[[str, str], CheckState | None]


@dataclass(frozen=True, slots=True)
class HostData:
    """One virtual hostname: its addresses and the TTL to serve them with."""

    fqdn: str
    addresses: tuple[str, ...]
    ttl: int
    weights: tuple[int, ...] = ()  # policy weighted: serve one address per query, by these


@dataclass(frozen=True, slots=True)
class ZoneData:
    """Everything the responder answers from, in one immutable value."""

    name: str
    serial: int
    ready: bool
    mname: str
    rname: str
    refresh: int
    retry: int
    expire: int
    minimum: int
    nameservers: tuple[tuple[str, str | None], ...]  # (name, glue address or None)
    hosts: tuple[HostData, ...]
    apex_ttl: int = 3600  # SOA and NS: they change only with the config


def _rname(rname: str, zone: str) -> str:
    """Turn 'hostmaster', 'hostmaster@example.com' or a full name into a DNS name."""
    rname = rname.strip().rstrip(".")
    if "@" in rname:
        local, _, domain = rname.partition("@")
        return f"{local}.{domain}"
    return rname if "." in rname else f"{rname}.{zone}"


def zone_data(config: Config, table: AnswerTable, check_state: CheckLookup) -> ZoneData:
    """Build the served data from the config and the current answer table."""
    zone = config.zone
    nameservers = tuple((ns.name, str(ns.address) if ns.address else None) for ns in zone.nameservers)
    mname = zone.soa.mname or (nameservers[0][0] if nameservers else zone.name)
    hosts = []
    for hostname in config.hostnames:
        fqdn = config.fqdn(hostname)
        answer = table.answers.get(fqdn)
        ttl = zone.ttl
        if zone.ko_ttl is not None:
            states = (check_state(node.id, hostname.polling) for node in config.nodes)
            if any(s is not None and s.status is Status.KO for s in states):
                ttl = zone.ko_ttl
        hosts.append(
            HostData(fqdn, answer.addresses if answer else (), ttl, answer.weights if answer else ())
        )
    return ZoneData(
        name=zone.name,
        serial=table.serial,
        ready=table.ready,
        mname=mname.rstrip(".").lower(),
        rname=_rname(zone.soa.rname, zone.name),
        refresh=zone.soa.refresh,
        retry=zone.soa.retry,
        expire=zone.soa.expire,
        minimum=zone.soa.minimum,
        nameservers=nameservers,
        hosts=tuple(hosts),
    )
