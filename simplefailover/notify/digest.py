"""Pure storm collapsing: past a threshold of events in a window, hold them for one digest."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class StormGate(Generic[T]):
    """Let events through one by one until more than `threshold` arrive within `window` s.

    From then on events are held, and once `window` seconds have passed since the storm
    began they come out together as one digest. If events keep coming, the next one
    starts a new storm at once, so a flapping node yields one digest per window rather
    than a mail per flap. Nothing offered is ever dropped: each event either passes or
    ends up in exactly one digest. Time is passed in, so the rules test without a clock.
    """

    threshold: int
    window: float
    _recent: deque[float] = field(default_factory=deque)
    _held: list[T] = field(default_factory=list)
    _storm_until: float | None = None

    def offer(self, item: T, now: float) -> bool:
        """Take one event; True means send it now on its own, False means it is held."""
        while self._recent and self._recent[0] <= now - self.window:
            self._recent.popleft()
        self._recent.append(now)
        if self._storm_until is None and len(self._recent) <= self.threshold:
            return True
        if self._storm_until is None:
            self._storm_until = now + self.window
        self._held.append(item)
        return False

    @property
    def deadline(self) -> float | None:
        """When the current storm's digest is due, or None outside a storm."""
        return self._storm_until

    @property
    def held(self) -> int:
        """How many events wait for the digest."""
        return len(self._held)

    def due(self, now: float) -> list[T]:
        """The held events once the storm's window is over (empty before, or outside a storm)."""
        if self._storm_until is None or now < self._storm_until:
            return []
        return self.flush()

    def flush(self) -> list[T]:
        """End the storm now and return what was held (at shutdown, or on reconfiguration)."""
        held, self._held, self._storm_until = self._held, [], None
        return held

    def retune(self, threshold: int, window: float) -> None:
        """Apply new limits; a storm in progress keeps its deadline."""
        self.threshold, self.window = threshold, window
