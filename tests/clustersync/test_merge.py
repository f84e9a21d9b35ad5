"""merge.py: the join laws on any well-formed states and on states grown by random writes and
merges; the rule's cases (the network drill's findings among them); the conflict event."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clustersync.core.events import CONFLICT, events
from clustersync.core.merge import NONE, RowState, decode_clocks, encode_clocks, merge, write

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


def _version(kind: str, n: int) -> tuple[int, str]:
    return (n, kind)  # inserts, updates and deletes from disjoint pools: one version, one write


@st.composite
def states(draw: st.DrawFn) -> RowState:
    """Any well-formed state: every write's value and base are fixed by its version (as they
    are in a cluster), columns a, b, c maybe missing (a member on an older schema), or no
    values at all (a tombstone stored before per-column LWW)."""
    born = draw(st.integers(1, 4))
    dead = draw(st.sampled_from([NONE, *(_version("d", n) for n in range(1, 5))]))
    values = None
    cols: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {}
    if draw(st.integers(0, 9)):
        names = draw(st.sets(st.sampled_from("abc"), min_size=1))
        for col in sorted(names):
            n = draw(st.integers(0, 6))  # 0: the insert's value
            if n:
                cols[col] = (_version("u", n), _version("u", n - 1) if n > 1 else _version("i", 1))
        values = {c: f"{c}@{cols[c][0] if c in cols else _version('i', born)}" for c in names}
    return RowState(_version("i", born), _version("d", born // 2) if born > 1 else NONE, dead, cols, values)


@given(states(), states(), states())
def test_merge_of_any_states_is_a_join(a: RowState, b: RowState, c: RowState) -> None:
    ab = merge(a, b)[0]
    assert merge(a, a)[0].same(a)
    assert ab.same(merge(b, a)[0])
    assert merge(ab, c)[0].same(merge(a, merge(b, c)[0])[0])
    assert merge(ab, a)[0].same(ab)  # an upper bound of both
    for col in {*(a.values or ()), *(b.values or ())}:
        assert ab.version(col) == max(a.version(col), b.version(col))
    assert ab.alive == (ab.values is not None and max(a.newest(), b.newest()) > max(a.dead, b.dead))


def _w(prev: RowState | None, values: dict[str, object] | None, v: tuple[int, str]) -> RowState:
    s = write(prev, values, v)
    assert s is not None
    return s


def test_a_delete_then_a_later_concurrent_update_keeps_the_row_with_the_update() -> None:
    # Chaos finding (seed 102): x deletes at 2; y, not having seen it, updates a at 3.
    born = _w(None, {"a": 1, "b": 1}, (1, "x"))
    gone = _w(born, None, (2, "x"))
    edited = _w(born, {"a": 2, "b": 1}, (3, "y"))
    for row, lost in (merge(gone, edited), merge(edited, gone)):
        assert row.alive and row.values == {"a": 2, "b": 1}
        assert [(x.kind, x.loser, x.winner) for x in lost] == [("delete", (2, "x"), (3, "y"))]
    # An update earlier than the delete loses to it (the update is logged as lost to a delete).
    early = _w(born, {"a": 7, "b": 1}, (2, "w"))
    late = _w(born, None, (3, "x"))
    row, lost = merge(early, late)
    assert not row.alive and row.values == {"a": 7, "b": 1}  # the tombstone keeps the values
    assert [(x.kind, x.loser, x.loser_values) for x in lost] == [("delete", (2, "w"), {"a": 7, "b": 1})]


def test_an_update_of_the_older_incarnation_later_than_a_re_insert_wins_its_column() -> None:
    # Chaos finding (seeds 107, 108): x deletes and re-inserts; y, not having seen either,
    # updates a later (by the hybrid clock) than the re-insert.
    born = _w(None, {"a": 1, "b": 1}, (1, "x"))
    again = _w(_w(born, None, (2, "x")), {"a": 5, "b": 5}, (3, "x"))
    edited = _w(born, {"a": 2, "b": 1}, (4, "y"))
    for row, lost in (merge(again, edited), merge(edited, again)):
        assert row.alive and row.values == {"a": 2, "b": 5}
        assert [(x.kind, x.column, x.loser, x.loser_values) for x in lost] == [
            ("column", "a", (3, "x"), {"a": 5})
        ]
    # An update of the older incarnation earlier than the re-insert leaks nothing into it.
    stale = _w(born, {"a": 9, "b": 9}, (2, "y"))
    assert merge(stale, again)[0].values == {"a": 5, "b": 5}


def test_an_insert_collision_keeps_both_versions_and_later_columns_of_either() -> None:
    first = _w(None, {"a": 1, "b": 1}, (1, "x"))
    second = _w(None, {"a": 2, "b": 2}, (2, "y"))  # y had not seen x's row
    edited = _w(first, {"a": 1, "b": 3}, (3, "x"))  # x edits its own row later still
    row, lost = merge(second, edited)
    assert row.born == (2, "y") and row.values == {"a": 2, "b": 3}
    (collision,) = [x for x in lost if x.kind == "insert"]
    assert (collision.loser, collision.loser_values) == ((1, "x"), {"a": 1, "b": 3})
    assert (collision.winner, collision.winner_values) == ((2, "y"), {"a": 2, "b": 3})


def test_clocks_round_trip_and_refuse_a_mismatch() -> None:
    born = _w(None, {"a": 1, "b": b"\x00"}, (1, "x"))
    states = [born, _w(born, {"a": 2, "b": b"\x00"}, (2, "y"))]
    states += [_w(states[1], None, (3, "x"))]
    states += [merge(states[2], _w(states[1], {"a": 4, "b": b"\x00"}, (4, "z")))[0]]
    for s in states:
        label = s.label()
        clocks = encode_clocks(s, label)
        data = s.values if s.alive else None
        assert decode_clocks(clocks, label, data, s.born_base).same(s)
        if clocks is not None and clocks.startswith("[2,"):  # the form that carries a tombstone's values
            with pytest.raises(ValueError, match="bad row clocks"):
                decode_clocks(clocks, label, None if s.alive else {"a": 1}, s.born_base)
    # The form before per-column LWW: a tombstone without values; a live row as it was.
    old = decode_clocks('[1,"x",0,"",3,"x",{}]', (3, "x"), None, (0, ""))
    assert not old.alive and old.values is None
    assert not merge(old, states[1])[0].alive  # a delete later than every write
    assert merge(old, states[3])[0].values == {"a": 4, "b": b"\x00"}  # a write later than the delete


def test_more_insert_collisions_mail_one_conflict_event() -> None:
    before = {**BASE, "conflicts": {"insert": 1}}
    after = {**BASE, "conflicts": {"insert": 3, "column": 2}}
    (event,) = events(before, after, "n1", 0.0)
    assert event.kind == CONFLICT and "2 row(s) inserted under a key" in event.subject
    assert "clustersync conflicts" in event.body
    assert events(after, after, "n1", 0.0) == []  # nothing new: no mail
    assert events(after, {**BASE, "conflicts": {}}, "n1", 0.0) == []  # acknowledged: no mail
