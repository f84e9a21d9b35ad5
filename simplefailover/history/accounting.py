"""Pure bookkeeping of the history: time per state and latency per bucket. No I/O, no clock.

Instead of every poll result the history keeps, per check and per minute and hour, the
seconds spent in each state (OK, KO, MAINT, ...) and the latency's count, sum, min and
max. A flapping storm of any size then adds at most a few rows per bucket, so the store
and the pictures drawn from it stay bounded.
"""

from __future__ import annotations

from collections import defaultdict

from ..pollers.result import PollResult
from .store import FIVE_MINUTES, HOUR, MINUTE, LatencyCell, LatencyKey, SpanKey, Track

RESOLUTIONS = (MINUTE, FIVE_MINUTES, HOUR)  # the hour, day and week pictures


class TimeAccount:
    """The open state of every track, and the seconds closed since the last `take`."""

    def __init__(self) -> None:
        self._open: dict[Track, tuple[str, float]] = {}
        self._pending: defaultdict[SpanKey, float] = defaultdict(float)

    def change(self, track: Track, state: str, at: float) -> None:
        """From `at` on, `track` is in `state` (time before goes to its previous state)."""
        current = self._open.get(track)
        if current is not None:
            if current[0] == state:
                return
            at = max(at, current[1])  # a clock that stepped back never makes time negative
            self._add(track, current[0], current[1], at)
        self._open[track] = (state, at)

    def end(self, track: Track, at: float) -> None:
        """Stop counting a track (the service stops, or a check is removed)."""
        current = self._open.pop(track, None)
        if current is not None:
            self._add(track, current[0], current[1], max(at, current[1]))

    def advance(self, now: float) -> None:
        """Close every open span at `now` (it goes on from there): makes the store current."""
        for track, (state, since) in list(self._open.items()):
            if now > since:
                self._add(track, state, since, now)
                self._open[track] = (state, now)

    def state(self, track: Track) -> str | None:
        current = self._open.get(track)
        return current[0] if current else None

    def open_spans(self) -> dict[Track, tuple[str, float]]:
        """Each track's current state and since when it is not yet in the store."""
        return dict(self._open)

    def tracks(self) -> list[Track]:
        return list(self._open)

    def take(self) -> dict[SpanKey, float]:
        """The seconds closed since the last call, to be added to the store."""
        out, self._pending = dict(self._pending), defaultdict(float)
        return out

    def _add(self, track: Track, state: str, start: float, end: float) -> None:
        for res in RESOLUTIONS:
            for bucket, seconds in split(start, end, res):
                self._pending[(res, track, state, bucket)] += seconds


def split(start: float, end: float, step: int) -> list[tuple[int, float]]:
    """[start, end) cut at multiples of step: [(bucket start, seconds in it), ...]."""
    out: list[tuple[int, float]] = []
    while end > start:
        bucket = int(start // step) * step
        stop = min(end, bucket + step)
        out.append((bucket, stop - start))
        start = stop
    return out


class LatencyAccount:
    """Latency of successful checks and the count of failed ones, per check and bucket."""

    def __init__(self) -> None:
        self._pending: dict[LatencyKey, LatencyCell] = {}

    def add(self, node: str, polling: str, result: PollResult) -> None:
        for res in RESOLUTIONS:
            key = (res, node, polling, int(result.at // res) * res)
            cell = self._pending.get(key)
            if cell is None:
                cell = self._pending[key] = [0, 0.0, 0.0, 0.0, 0]
            if result.ok:
                cell[2] = result.latency if cell[0] == 0 else min(cell[2], result.latency)
                cell[3] = max(cell[3], result.latency)
                cell[0] += 1
                cell[1] += result.latency
            else:
                cell[4] += 1

    def take(self) -> dict[LatencyKey, LatencyCell]:
        out, self._pending = self._pending, {}
        return out


def merge_spans(into: dict[SpanKey, float], more: dict[SpanKey, float]) -> dict[SpanKey, float]:
    """Seconds of both (for a write that failed and is tried again with the next one)."""
    for key, seconds in more.items():
        into[key] = into.get(key, 0.0) + seconds
    return into


def merge_latency(
    into: dict[LatencyKey, LatencyCell], more: dict[LatencyKey, LatencyCell]
) -> dict[LatencyKey, LatencyCell]:
    """Latency cells of both, as if every result had gone into one."""
    for key, cell in more.items():
        old = into.get(key)
        if old is None:
            into[key] = list(cell)
            continue
        if cell[0] and (not old[0] or cell[2] < old[2]):
            old[2] = cell[2]
        old[0] += cell[0]
        old[1] += cell[1]
        old[3] = max(old[3], cell[3])
        old[4] += cell[4]
    return into
