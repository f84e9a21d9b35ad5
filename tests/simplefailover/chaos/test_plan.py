"""The fault plan: bounded, one fault per category at a time, healed inside the window."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from simplefailover.chaos.plan import CLOCK_OFFSETS, DURATIONS, KINDS, make_plan, overlapping

NODES = ["node1", "node2", "node3"]


@given(seed=st.integers(0, 2**32), window=st.floats(1, 120))
def test_plan_is_bounded_and_never_overlaps_in_a_category(seed: int, window: float) -> None:
    plan = make_plan(random.Random(seed), window, NODES)
    assert overlapping(plan) == []
    for fault in plan:
        assert fault.start > 0 and fault.end <= window + 0.01
        shortest, longest = DURATIONS[KINDS[fault.kind]]
        assert shortest - 0.01 <= fault.duration <= longest + 0.01
        assert fault.node in NODES
        if fault.kind == "clock offset":
            assert CLOCK_OFFSETS[0] <= fault.offset <= CLOCK_OFFSETS[1]
        else:
            assert fault.offset == 0
    assert [f.start for f in plan] == sorted(f.start for f in plan)


def test_a_long_window_gets_every_kind_of_fault() -> None:
    kinds = {f.kind for seed in range(5) for f in make_plan(random.Random(seed), 120, NODES)}
    assert kinds == set(KINDS)


def test_overlapping_finds_two_faults_of_one_category() -> None:
    plan = make_plan(random.Random(1), 60, NODES)
    apps = [f for f in plan if KINDS[f.kind] == "app"]
    moved = type(apps[1])(apps[0].start + 0.1, apps[1].duration, apps[1].kind, apps[1].node)
    assert overlapping([apps[0], moved]) == [(apps[0], moved)]
