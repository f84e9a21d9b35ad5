"""Pure storm collapsing: rules and the no-loss property."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simplefailover.notify.digest import StormGate


def test_below_threshold_everything_passes() -> None:
    gate: StormGate[int] = StormGate(threshold=3, window=10)
    assert [gate.offer(i, now=float(i)) for i in range(3)] == [True, True, True]
    assert gate.deadline is None


def test_storm_is_held_until_the_window_ends_then_one_digest() -> None:
    gate: StormGate[int] = StormGate(threshold=2, window=10)
    passed = [i for i in range(6) if gate.offer(i, now=1.0 + i * 0.5)]
    assert passed == [0, 1]
    assert gate.deadline == 2.0 + 10  # the storm began with item 2, at t=2.0
    assert gate.due(11.9) == []
    assert gate.due(12.0) == [2, 3, 4, 5]
    assert gate.deadline is None and gate.held == 0


def test_a_storm_that_goes_on_yields_one_digest_per_window() -> None:
    gate: StormGate[int] = StormGate(threshold=1, window=4)
    sent, digests = [], []
    for i in range(40):  # one event every 0.5 s for 20 s
        now = i * 0.5
        digests += [d for d in [gate.due(now)] if d]
        if gate.offer(i, now):
            sent.append(i)
    digests += [gate.flush()]
    assert sent == [0]
    assert len(digests) == 5  # 20 s of storm in windows of 4 s
    assert sorted(i for d in digests for i in d) == list(range(1, 40))


def test_quiet_after_a_storm_lets_single_events_through_again() -> None:
    gate: StormGate[str] = StormGate(threshold=1, window=5)
    assert gate.offer("a", 0.0)
    assert not gate.offer("b", 1.0)
    assert gate.due(6.0) == ["b"]
    assert gate.offer("c", 20.0)


@given(
    threshold=st.integers(1, 5),
    window=st.floats(0.5, 30),
    gaps=st.lists(st.floats(0, 20), max_size=60),
)
def test_nothing_is_lost_and_single_mails_stay_under_the_threshold(
    threshold: int, window: float, gaps: list[float]
) -> None:
    gate: StormGate[int] = StormGate(threshold, window)
    now, sent, held_out, sent_at = 0.0, [], [], []
    for i, gap in enumerate(gaps):
        now += gap
        held_out += gate.due(now)
        if gate.offer(i, now):
            sent.append(i)
            sent_at.append(now)
    held_out += gate.flush()
    assert sorted(sent + held_out) == list(range(len(gaps)))  # each exactly once
    for start in sent_at:  # never more than `threshold` single mails within one window
        assert sum(1 for t in sent_at if start <= t < start + window) <= threshold
