"""Maintenance windows and pins as a last-writer-wins map every instance converges on. Pure.

Each entry is keyed by (kind, target): ("maintenance", node id) or ("pin", hostname). The
entry with the later (stamp, origin) wins, so instances that exchange their maps in any
order end with the same one. Switching off writes an entry too (on: false), so an old
"on" heard late from a peer cannot bring a finished window back.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..config import Config, Node
from ..state import Status

MAINTENANCE = "maintenance"
PIN = "pin"
KINDS = (MAINTENANCE, PIN)
FOREVER = math.inf
FORGET_AFTER = 7 * 86400.0  # seconds: switched-off or ended entries are dropped after this


@dataclass(frozen=True, slots=True)
class Entry:
    """One maintenance window or pin, as decided on some instance."""

    kind: str  # MAINTENANCE | PIN
    target: str  # maintenance: node id; pin: hostname (fully qualified)
    on: bool
    start: float = 0.0  # seconds since the epoch
    end: float = FOREVER
    node: str = ""  # pin: the node answered
    reason: str = ""
    who: str = ""
    force: bool = False
    stamp: float = 0.0  # when it was decided: the later one wins
    origin: str = ""  # the instance that decided it (ties)

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.target

    def active(self, now: float) -> bool:
        """Whether it is in force at `now`."""
        return self.on and self.start <= now < self.end

    def newer_than(self, other: Entry) -> bool:
        """Later (stamp, origin) wins; the rest of the entry only breaks an exact tie."""
        return self._order() > other._order()

    def _order(self) -> tuple[float, str, bool, float, float, str, str, str, bool]:
        return (
            self.stamp,
            self.origin,
            self.on,
            self.start,
            self.end,
            self.node,
            self.reason,
            self.who,
            self.force,
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["end"] = None if self.end == FOREVER else self.end
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        """Read an entry (from disk or a peer); raise ValueError saying what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("an entry must be a mapping")
        kind, target = data.get("kind"), data.get("target")
        if kind not in KINDS or not isinstance(target, str) or not target:
            raise ValueError(f"bad entry kind/target: {kind!r}/{target!r}")
        end = data.get("end")
        numbers = [data.get("start", 0.0), data.get("stamp", 0.0)] + ([] if end is None else [end])
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            raise ValueError(f"entry {kind}/{target}: start, end and stamp must be numbers")
        texts = [data.get(k, "") for k in ("node", "reason", "who", "origin")]
        if not all(isinstance(t, str) and len(t) <= 500 for t in texts):
            raise ValueError(f"entry {kind}/{target}: node, reason, who and origin must be short strings")
        on, force = data.get("on"), data.get("force", False)
        if not isinstance(on, bool) or not isinstance(force, bool):
            raise ValueError(f"entry {kind}/{target}: on and force must be true or false")
        return cls(
            kind,
            target,
            on,
            float(data.get("start", 0.0)),
            FOREVER if end is None else float(end),
            texts[0],
            texts[1],
            texts[2],
            force,
            float(data.get("stamp", 0.0)),
            texts[3],
        )

    def describe(self) -> str:
        """What it is, as the mails and the list say it."""
        what = f"{self.target} in maintenance"
        if self.kind == PIN:
            what = f"{self.target} pinned to {self.node}"
        until = "" if self.end == FOREVER else f" until {when(self.end)}"
        start = f" from {when(self.start)}" if self.start > self.stamp + 1 else ""
        who = f" by {self.who}" if self.who else ""
        why = f": {self.reason}" if self.reason else ""
        forced = " (forced past the pre-flight check)" if self.force else ""
        return f"{what}{start}{until}{who}{why}{forced}"


def when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


class Overrides:
    """The map of entries; merge() is commutative, associative and idempotent."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}
        self.merge(entries)

    def merge(self, entries: Iterable[Entry]) -> list[Entry]:
        """Fold entries in; return those that replaced what was known."""
        changed = []
        for entry in entries:
            known = self.entries.get(entry.key)
            if known is None or entry.newer_than(known):
                self.entries[entry.key] = entry
                changed.append(entry)
        return changed

    def forget_old(self, now: float) -> None:
        """Drop entries switched off or ended more than FORGET_AFTER ago."""
        for key, entry in list(self.entries.items()):
            finished = entry.stamp if not entry.on else entry.end
            if finished < now - FORGET_AFTER:
                del self.entries[key]

    def active(self, now: float) -> list[Entry]:
        return sorted((e for e in self.entries.values() if e.active(now)), key=lambda e: e.key)

    def maintenance(self, now: float) -> frozenset[str]:
        """Node ids in maintenance at `now`."""
        return frozenset(e.target for e in self.active(now) if e.kind == MAINTENANCE)

    def pins(self, now: float) -> dict[str, str]:
        """Hostname -> pinned node id at `now`."""
        return {e.target: e.node for e in self.active(now) if e.kind == PIN}

    def next_change(self, now: float) -> float:
        """When some entry starts or ends next (FOREVER when none will)."""
        times = [t for e in self.entries.values() if e.on for t in (e.start, e.end) if t > now]
        return min(times, default=FOREVER)

    def as_list(self) -> list[dict[str, Any]]:
        return [e.as_dict() for _, e in sorted(self.entries.items())]


def read_entries(data: Any) -> list[Entry]:
    """Entries from a JSON list; raise ValueError on the first bad one."""
    if not isinstance(data, list):
        raise ValueError("entries must be a list")
    return [Entry.from_dict(item) for item in data]


def preflight(
    config: Config,
    status_by_polling: Mapping[str, Mapping[str, Status]],
    maintenance: frozenset[str],
    pins: Mapping[str, str],
) -> list[str]:
    """Hostnames (fully qualified) left with no OK node if `maintenance` were in force.

    A pinned hostname answers its pin whatever the checks say, so it is never left empty.
    """
    empty = []
    for hostname in config.hostnames:
        fqdn = config.fqdn(hostname)
        if fqdn in pins:
            continue
        statuses = status_by_polling.get(hostname.polling, {})
        if not any(statuses.get(n.id) is Status.OK for n in config.nodes if n.id not in maintenance):
            empty.append(fqdn)
    return empty


def without(nodes: Sequence[Node], maintenance: frozenset[str]) -> Sequence[Node]:
    """The nodes that may be chosen: those not in maintenance."""
    return [n for n in nodes if n.id not in maintenance] if maintenance else nodes


DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'90', '30s', '15m', '2h', '1d' -> seconds; ValueError otherwise."""
    match = DURATION.match(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration (like 30m, 2h or 1d)")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_time(text: str, now: float) -> float:
    """An ISO 8601 time ('2026-12-03T22:00', with a zone or local), or 'HH:MM' (next one, local)."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}", text):
            hours, minutes = (int(p) for p in text.split(":"))
            base = datetime.fromtimestamp(now).replace(hour=hours, minute=minutes, second=0, microsecond=0)
            at = base.timestamp()
            return at if at > now else at + 86400
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(f"{text!r} is not a time (like 22:00 or 2026-12-03T22:00+00:00)") from None
