"""The fault plan of one chaos window: which fault, on which node, when, for how long (pure)."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Each kind belongs to one category; at most one fault per category runs at a time, so a
# majority of apps and of SimpleFailover instances is always up (the answers stay decidable).
KINDS: dict[str, str] = {
    "app kill -9": "app",
    "app SIGSTOP": "app",
    "app SIGTERM": "app",
    "clustersync kill -9": "sync",
    "clustersync SIGSTOP": "sync",
    "clustersync SIGTERM": "sync",
    "clock offset": "sync",
    "simplefailover kill -9": "failover",
    "simplefailover SIGSTOP": "failover",
    "simplefailover SIGTERM": "failover",
}
# kill -9 and SIGTERM are healed by starting the process again, SIGSTOP by SIGCONT.
# Seconds a fault of each category lasts: apps long enough to be detected most of the time.
DURATIONS: dict[str, tuple[float, float]] = {"app": (4.0, 9.0), "sync": (2.0, 7.0), "failover": (2.0, 5.0)}
GAP = (0.3, 2.0)  # seconds between two faults of one category
CLOCK_OFFSETS = (-25.0, 25.0)  # beyond max_clock_offset (15) some sessions are refused until healed


@dataclass(frozen=True)
class Fault:
    """One fault: injected at `start` (seconds into the window), healed `duration` later."""

    start: float
    duration: float
    kind: str
    node: str
    offset: float = 0.0  # clock offset, seconds (kind "clock offset" only)

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def process(self) -> str:
        """The demo process kind it hits: app, sync or failover."""
        return KINDS[self.kind]


def make_plan(rng: random.Random, window: float, nodes: list[str]) -> list[Fault]:
    """Random faults filling a window, one at a time per category, all healed before it ends."""
    faults: list[Fault] = []
    for category, (shortest, longest) in DURATIONS.items():
        kinds = [k for k, c in KINDS.items() if c == category]
        t = rng.uniform(0.2, GAP[1])
        while True:
            duration = rng.uniform(shortest, longest)
            if t + duration > window:
                break
            kind = rng.choice(kinds)
            offset = round(rng.uniform(*CLOCK_OFFSETS), 1) if kind == "clock offset" else 0.0
            faults.append(Fault(round(t, 2), round(duration, 2), kind, rng.choice(nodes), offset))
            t += duration + rng.uniform(*GAP)
    return sorted(faults, key=lambda f: f.start)


def overlapping(faults: list[Fault]) -> list[tuple[Fault, Fault]]:
    """Pairs of faults of one category that overlap in time (a correct plan has none)."""
    pairs = []
    for i, a in enumerate(faults):
        for b in faults[i + 1 :]:
            if KINDS[a.kind] == KINDS[b.kind] and a.start < b.end and b.start < a.end:
                pairs.append((a, b))
    return pairs
