"""Pure reading of the history: failover timelines and availability. No I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .store import Event

# States that count: availability = OK time / (OK + KO time); MAINT and UNKNOWN are left out.
UP, DOWN = "OK", "KO"


@dataclass(frozen=True, slots=True)
class Failover:
    """One change of a hostname's answer, and the times that led to it (SPEC SF-6)."""

    hostname: str
    old: str  # addresses
    new: str
    old_nodes: tuple[str, ...]
    new_nodes: tuple[str, ...]
    cause: str  # "node1/web OK -> KO", or "" (a reload, the first answer)
    first_check: float | None  # the first result of the run that changed the check
    agreed: float | None  # the check's status changed (agreed with the peers, when configured)
    dns: float  # the answer changed
    caches_expire: float  # resolvers that cached the old answer have let it go
    ttl: int
    reason: str

    @property
    def steps(self) -> list[tuple[str, float]]:
        """(label, time) of each step known, in order."""
        failed = "first failed check" if "-> KO" in self.cause else "first check that changed"
        out = [(failed, self.first_check), ("agreed", self.agreed), ("DNS changed", self.dns)]
        out.append(("caches expired", self.caches_expire))
        return [(label, at) for label, at in out if at is not None]

    def as_dict(self) -> dict[str, Any]:
        from ..dashboard.view import iso_time

        return {
            "hostname": self.hostname,
            "old": self.old,
            "new": self.new,
            "old_nodes": list(self.old_nodes),
            "new_nodes": list(self.new_nodes),
            "cause": self.cause,
            "first_check": iso_time(self.first_check),
            "agreed": iso_time(self.agreed),
            "dns_changed": iso_time(self.dns),
            "caches_expire": iso_time(self.caches_expire),
            "ttl": self.ttl,
            "reason": self.reason,
            "seconds": {label: round(at - self.steps[0][1], 3) for label, at in self.steps},
        }


def failovers(events: Iterable[Event], default_ttl: int) -> list[Failover]:
    """One Failover per answer change in `events` (kind "answer"), in the order given."""
    out: list[Failover] = []
    for e in events:
        if e.kind != "answer" or (e.old in ("", "(none)") and not e.data.get("old_nodes")):
            continue
        cause: Mapping[str, Any] = e.data.get("cause") or {}
        ttl = int(e.data.get("ttl", default_ttl))
        agreed = _float(cause.get("at"))
        first = _float(cause.get("first_result_at"))
        if first is not None and agreed is not None:
            first = min(first, agreed)
        out.append(
            Failover(
                hostname=e.hostname,
                old=e.old,
                new=e.new,
                old_nodes=tuple(e.data.get("old_nodes", ())),
                new_nodes=tuple(e.data.get("nodes", ())),
                cause=f"{cause['node']}/{cause['polling']} {cause['old']} -> {cause['new']}" if cause else "",
                first_check=first,
                agreed=agreed,
                dns=e.at,
                caches_expire=e.at + ttl,
                ttl=ttl,
                reason=e.reason,
            )
        )
    return out


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def availability(seconds: Mapping[str, float]) -> float | None:
    """Percent of the known up-or-down time that was up; None with no such time."""
    up, down = seconds.get(UP, 0.0), seconds.get(DOWN, 0.0)
    return 100.0 * up / (up + down) if up + down > 0 else None


def add_open(
    columns: list[dict[str, float]], state: str, since: float, now: float, start: float, step: int
) -> None:
    """Count a span not yet in the store (state from `since` to `now`) into columns from `start`."""
    at = max(since, start)
    end = min(now, start + step * len(columns))
    while at < end:
        col = int((at - start) // step)
        stop = min(end, start + (col + 1) * step)
        cell = columns[col]
        cell[state] = cell.get(state, 0.0) + (stop - at)
        at = stop


def totals(columns: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Seconds per state over all columns."""
    out: dict[str, float] = {}
    for cell in columns:
        for state, seconds in cell.items():
            out[state] = out.get(state, 0.0) + seconds
    return out
