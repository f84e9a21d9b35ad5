"""Hybrid logical clock: versions that follow wall time yet never go backwards."""

from __future__ import annotations

from dataclasses import dataclass

# The low 16 bits count events within one millisecond; the rest is wall time in ms.
COUNTER_BITS = 16


def pack(wall_ms: int, counter: int = 0) -> int:
    """Build an HLC value from milliseconds and a counter."""
    return (wall_ms << COUNTER_BITS) | counter


def wall_ms(hlc: int) -> int:
    """The wall-time part of an HLC value, in ms since the epoch."""
    return hlc >> COUNTER_BITS


@dataclass
class HybridClock:
    """One node's clock; `last` is the highest value issued or observed."""

    last: int = 0

    def tick(self, now_ms: int) -> int:
        """Issue a new value above everything seen so far, near now_ms."""
        self.last = max(self.last + 1, pack(now_ms))
        return self.last

    def observe(self, remote: int) -> None:
        """Take in a value seen from a peer, so later local values order after it."""
        self.last = max(self.last, remote)
