"""Pure: which RFC 2136 UPDATE to send, given the agreed answers and what the server holds.

No I/O and no clock here: the updater reads the server, asks `plan_change`, and sends
what it returns (or nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import Config, DnsUpdate
from ..state import AnswerTable


@dataclass(frozen=True, slots=True)
class Records:
    """The A and AAAA RRsets of one name, with their TTL (meaningless when both are empty)."""

    a: frozenset[str] = frozenset()
    aaaa: frozenset[str] = frozenset()
    ttl: int = 0

    @property
    def empty(self) -> bool:
        return not self.a and not self.aaaa

    def same_as(self, other: Records) -> bool:
        """Same addresses, and the same TTL unless there is nothing to carry one."""
        return self.a == other.a and self.aaaa == other.aaaa and (self.empty or self.ttl == other.ttl)

    def describe(self) -> str:
        """Addresses as people read them, e.g. '127.0.0.81, ::1' or '(none)'."""
        return ", ".join(sorted(self.a) + sorted(self.aaaa)) or "(none)"


def records_of(addresses: tuple[str, ...] | list[str], ttl: int) -> Records:
    """Split addresses into A and AAAA sets (normalised text, so '::01' equals '::1')."""
    a: set[str] = set()
    aaaa: set[str] = set()
    for text in addresses:
        address = ipaddress.ip_address(text)
        (a if address.version == 4 else aaaa).add(str(address))
    return Records(frozenset(a), frozenset(aaaa), ttl)


@dataclass(frozen=True, slots=True)
class Change:
    """One UPDATE: replace `fqdn`'s A and AAAA RRsets with `wanted`, if they still hold `held`.

    The prerequisite (RFC 2136 section 2.4: value-dependent RRset exists, or RRset does
    not exist) makes it a compare-and-swap: when another instance wrote in between, the
    server refuses it (YXRRSET/NXRRSET) and the updater reads again instead of fighting.
    """

    fqdn: str
    wanted: Records
    held: Records


def plan_change(fqdn: str, wanted: Records, held: Records) -> Change | None:
    """The UPDATE that makes the server hold `wanted`, or None when it already does."""
    if wanted.same_as(held):
        return None
    return Change(fqdn, wanted, held)


def update_zone(config: Config, update: DnsUpdate) -> str:
    """The zone the updates go to."""
    return update.zone or config.zone.name


def update_ttl(config: Config, update: DnsUpdate) -> int:
    """The TTL of pushed records."""
    return config.zone.ttl if update.ttl is None else update.ttl


def managed_fqdns(config: Config, update: DnsUpdate) -> list[str]:
    """The fully qualified names this instance keeps up to date on the server, in config order."""
    chosen = None if update.hostnames is None else set(update.hostnames)
    return [config.fqdn(h) for h in config.hostnames if chosen is None or h.name in chosen]


def wanted_records(config: Config, update: DnsUpdate, table: AnswerTable) -> dict[str, Records]:
    """What the server should hold for each managed name, from the agreed answer table.

    A name without an answer yet is left out: nothing is pushed before the engine knows.
    """
    ttl = update_ttl(config, update)
    wanted: dict[str, Records] = {}
    for fqdn in managed_fqdns(config, update):
        answer = table.answers.get(fqdn)
        if answer is not None:
            wanted[fqdn] = records_of(answer.addresses, ttl)
    return wanted


def changed_names(before: Mapping[str, Records], after: Mapping[str, Records]) -> list[str]:
    """Names whose wanted records differ between two tables (new names included)."""
    return [name for name, records in after.items() if name not in before or before[name] != records]


def backoff(failures: int, first: float, maximum: float) -> float:
    """Seconds to wait after `failures` failed attempts in a row: doubling, capped at maximum."""
    if failures <= 0:
        return 0.0
    return min(maximum, first * 2 ** min(failures - 1, 32))
