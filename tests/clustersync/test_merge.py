"""merge.py's join laws on states grown by random writes and merges, and the conflict event."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clustersync.core.events import CONFLICT, events
from clustersync.core.merge import RowState, merge, write

BASE = {
    "readiness": {"ready": True, "reason": "provisioned and ready"},
    "activity": {"state": "green", "peer": None, "successor": None, "reason": ""},
    "time_alignment": {"state": "green", "detail": ""},
}
OPS = st.lists(
    st.tuples(
        st.integers(0, 2),  # replica
        st.sampled_from(["insert", "set", "delete", "merge"]),
        st.sampled_from(["a", "b"]),
        st.integers(0, 3),  # a value, or the replica to merge from
    ),
    max_size=30,
)


def grow(ops: list[tuple[int, str, str, int]]) -> list[RowState | None]:
    """Three replicas of one row after the ops (versions from one increasing clock)."""
    states: list[RowState | None] = [None, None, None]
    for tick, (r, op, col, x) in enumerate(ops, start=1):
        s, v = states[r], (tick, f"m{r}")
        values = None if s is None or not s.alive else dict(s.values or {})
        if op == "insert" and values is None:
            states[r] = write(s, {"a": x, "b": -x}, v) or s
        elif op == "set" and values is not None:
            states[r] = write(s, {**values, col: x}, v) or s
        elif op == "delete":
            states[r] = write(s, None, v) or s
        elif op == "merge" and states[x % 3] is not None:
            other = states[x % 3]
            assert other is not None
            states[r] = other if s is None else merge(s, other)[0]
    return states


@given(OPS)
def test_merge_is_commutative_associative_idempotent(ops: list[tuple[int, str, str, int]]) -> None:
    a, b, c = grow(ops)
    if a is None or b is None or c is None:
        return
    assert merge(a, a)[0].same(a)
    assert merge(a, b)[0].same(merge(b, a)[0])
    assert merge(merge(a, b)[0], c)[0].same(merge(a, merge(b, c)[0])[0])


def test_a_re_insert_after_a_delete_wins_over_older_columns() -> None:
    born = write(None, {"a": 1, "b": 1}, (1, "x"))
    assert born is not None
    edited = write(born, {"a": 2, "b": 1}, (3, "y"))  # y edits a, not having seen the delete
    gone = write(born, None, (2, "x"))
    assert edited is not None and gone is not None
    assert not merge(edited, gone)[0].alive  # a delete wins over a concurrent update
    again = write(gone, {"a": 5, "b": 5}, (4, "x"))
    assert again is not None
    row, lost = merge(again, merge(edited, gone)[0])
    assert row.alive and row.values == {"a": 5, "b": 5} and lost == []


def test_more_insert_collisions_mail_one_conflict_event() -> None:
    before = {**BASE, "conflicts": {"insert": 1}}
    after = {**BASE, "conflicts": {"insert": 3, "column": 2}}
    (event,) = events(before, after, "n1", 0.0)
    assert event.kind == CONFLICT and "2 row(s) inserted under a key" in event.subject
    assert "clustersync conflicts" in event.body
    assert events(after, after, "n1", 0.0) == []  # nothing new: no mail
    assert events(after, {**BASE, "conflicts": {}}, "n1", 0.0) == []  # acknowledged: no mail
