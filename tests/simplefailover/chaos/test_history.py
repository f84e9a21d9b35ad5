"""The data verdict against the history of writes: last-writer-wins, deletes, indeterminate writes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simplefailover.chaos.history import Op, clock_skew, judge_history, possible


def op(key: str, value: str | None, invoke: float, complete: float, acked: bool = True) -> Op:
    return Op(key, value, "node1", invoke, complete, acked)


def test_a_later_acknowledged_write_must_win() -> None:
    ops = [op("k", "a", 0, 1), op("k", "b", 2, 3)]
    assert possible(ops) == {"b"}
    assert judge_history(ops, {"n1": {"k": "b"}, "n2": {"k": "b"}}).problems == []
    verdict = judge_history(ops, {"n1": {"k": "b"}, "n2": {"k": "a"}})
    assert verdict.lost == 1
    assert any("lost an acknowledged write: n2 hold 'a'" in p for p in verdict.problems)
    assert any("n2 differs from n1 on 1 keys" in p for p in verdict.problems)


def test_concurrent_writes_may_both_win() -> None:
    ops = [op("k", "a", 0, 2), op("k", "b", 1, 3)]
    assert possible(ops) == {"a", "b"}


def test_an_acknowledged_insert_missing_is_lost() -> None:
    verdict = judge_history([op("x", "x", 0, 1)], {"n1": {}})
    assert verdict.lost == 1 and verdict.problems


def test_a_delete_undone_is_a_resurrection() -> None:
    ops = [op("k", "a", 0, 1), op("k", None, 2, 3)]
    assert possible(ops) == {None}
    verdict = judge_history(ops, {"n1": {"k": "a"}})
    assert verdict.resurrected == 1 and "resurrected" in verdict.problems[0]
    assert judge_history(ops, {"n1": {}}).problems == []


def test_unacknowledged_writes_may_or_may_not_have_happened() -> None:
    # The client gave up on "b", but the server may commit it any time later.
    ops = [op("k", "a", 0, 1), op("k", "b", 2, 4, acked=False), op("k", "c", 5, 6, acked=False)]
    assert possible(ops) == {"a", "b", "c"}
    assert possible([op("k", None, 0, 1, acked=False)]) == {None}


def test_a_clock_offset_widens_what_may_win() -> None:
    ops = [op("k", "a", 10, 11), op("k", "b", 15, 16)]
    assert possible(ops) == {"b"}
    skew = clock_skew([(5.0, 12.0, 20.0)])  # +20 s from 5 to 12: its stamps lead until 32
    assert possible(ops, skew) == {"a", "b"}
    assert possible([op("k", "a", 40, 41), op("k", "b", 45, 46)], skew) == {"b"}
    # A write left unstamped while clustersync was down is stamped with the offset it restarts with.
    later = clock_skew([(30.0, 35.0, 5.4)])
    assert possible([op("k", "a", 23, 24), op("k", "b", 26, 27)], later) == {"a", "b"}
    assert possible([op("k", "a", 10, 11), op("k", "b", 15, 16)], later) == {"b"}


def test_keys_nobody_wrote_are_reported() -> None:
    assert judge_history([], {"n1": {"ghost": "x"}}).problems == ["1 keys nobody wrote (e.g. ['ghost'])"]


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_sequential_writes_leave_exactly_the_last_acknowledged_one(steps: list[tuple[bool, bool]]) -> None:
    """One writer, one write after another: the last acknowledged one stays, or one it did not know of.

    A write the client gave up on may be committed any time later (an app resumed from SIGSTOP).
    """
    ops = [
        op("k", None if delete else f"v{i}", 2 * i, 2 * i + 1, acked)
        for i, (delete, acked) in enumerate(steps)
    ]
    last = max((i for i, o in enumerate(ops) if o.acked), default=None)
    unknown = {o.value for o in ops if not o.acked}
    expected = {ops[last].value} | unknown if last is not None else {None} | unknown
    assert possible(ops) == expected


def test_a_delete_that_found_no_row_is_no_write() -> None:
    # node3 had not received "a" yet: its DELETE changed nothing, so "a" arriving later is right.
    ops = [op("k", "a", 0, 1), Op("k", None, "node3", 2, 3, acked=True, noop=True)]
    verdict = judge_history(ops, {"n1": {"k": "a"}})
    assert verdict.problems == [] and verdict.noop_deletes == 1 and verdict.acked == 1
