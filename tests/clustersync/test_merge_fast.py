"""merge.py's fast paths give exactly what the full ones give.

merge()'s shortcut (one state already holds the other): the same state and the same conflicts
as the join, on well-formed states, on states grown by random writes and merges, on loose ones
(registers and values drawn independently, as a corrupt or hand-made row could hold) and on
pairs differing in a register or two; and it is taken for the common update, a write on top of
the local state. The clocks' parse: the same value or the same error as json.loads.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from clustersync.core.merge import NONE, Lost, RowState, _loads, join, merge, write

from .test_merge import OPS, grow, states

VERSIONS = st.sampled_from([NONE, (-1, "x"), (1, "x"), (2, "x"), (2, "y"), (3, "y"), (9, "z")])
VALUES = st.sampled_from([1, 1.0, True, "1", None, 2])


@st.composite
def loose(draw: st.DrawFn) -> RowState:
    """Any state the type allows: columns with the born version, registers without a value,
    one version with different values on two states, missing values."""
    values = draw(st.none() | st.dictionaries(st.sampled_from("abc"), VALUES, max_size=3))
    cols = draw(st.dictionaries(st.sampled_from("abcd"), st.tuples(VERSIONS, VERSIONS), max_size=3))
    return RowState(draw(VERSIONS), draw(VERSIONS), draw(VERSIONS), cols, values)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[RowState, RowState]:
    """Two states that differ in a register or two (where the shortcut's checks matter)."""
    a = draw(st.one_of(states(), loose()))
    born, born_base, dead = a.born, a.born_base, a.dead
    cols, values = dict(a.cols), None if a.values is None else dict(a.values)
    for _ in range(draw(st.integers(1, 2))):
        what = draw(st.sampled_from(["born", "born_base", "dead", "col", "uncol", "value", "unvalue"]))
        col = draw(st.sampled_from("abcd"))
        if what == "born":
            born = draw(VERSIONS)
        elif what == "born_base":
            born_base = draw(VERSIONS)
        elif what == "dead":
            dead = draw(VERSIONS)
        elif what == "col":
            version, base = cols.get(col, (born, NONE))
            cols[col] = draw(st.sampled_from([(draw(VERSIONS), base), (version, draw(VERSIONS))]))
        elif what == "uncol":
            cols.pop(col, None)
        elif what == "value":
            values = {**(values or {}), col: draw(VALUES)}
        elif values is not None:
            values.pop(col, None)
    return a, RowState(born, born_base, dead, cols, values)


def _agree(a: RowState, b: RowState) -> None:
    """merge(a, b) is join(a, b): the same state and conflicts, or the same error."""
    try:
        full, full_lost = join(a, b)
    except Exception as exc:  # a malformed state join refuses: merge must refuse it too
        try:
            merge(a, b)
        except type(exc):
            return
        raise AssertionError(f"join raised {exc!r}, merge did not") from None
    merged, lost = merge(a, b)
    assert merged.same(full)
    assert merged.alive == full.alive and merged.label() == full.label()
    assert _plain(lost) == _plain(full_lost)
    event("shortcut" if merged is a or merged is b else "joined")


def _typed(values: dict[str, object] | None) -> object:
    # Values compared with their types (1, 1.0 and True are equal in Python, not in a row).
    return None if values is None else sorted((k, type(v).__name__, repr(v)) for k, v in values.items())


def _plain(lost: list[Lost]) -> list[tuple[object, ...]]:
    return [(x.kind, x.column, x.loser, _typed(x.loser_values), x.winner, _typed(x.winner_values))
            for x in lost]  # fmt: skip


@given(states(), states())
def test_the_shortcut_agrees_with_the_join_on_well_formed_states(a: RowState, b: RowState) -> None:
    _agree(a, b)
    _agree(b, a)


@settings(max_examples=1000)  # pure and quick: the cases where one check matters are rare
@given(pairs())
@example(  # a tombstone, and the same row alive by a register without a value: a write lost to the delete
    (
        RowState((1, "i"), NONE, (2, "d"), {}, {"a": 1}),
        RowState((1, "i"), NONE, (2, "d"), {"d": ((3, "y"), NONE)}, {"a": 1}),
    )
)
def test_the_shortcut_agrees_with_the_join_on_nearby_states(pair: tuple[RowState, RowState]) -> None:
    _agree(*pair)
    _agree(*reversed(pair))


@given(OPS)
def test_the_shortcut_agrees_with_the_join_on_grown_states(ops: list[tuple[int, str, str, int]]) -> None:
    grown = [s for s in grow(ops) if s is not None]
    for a in grown:
        for b in grown:
            _agree(a, b)


@settings(max_examples=500)
@given(loose(), loose())
@example(  # born unknown (NONE), a column only one side has: join refuses it, so must merge
    RowState(NONE, NONE, NONE, {}, {}), RowState(NONE, NONE, NONE, {}, {"a": 1})
)
@example(RowState((-1, "x"), NONE, NONE, {}, {}), RowState((-1, "x"), NONE, NONE, {}, {"a": 1}))
@example(  # a register of y with x's insert version: y's value (or none) would win the tie
    RowState((1, "x"), NONE, NONE, {"a": ((1, "x"), NONE)}, {}), RowState((1, "x"), NONE, NONE, {}, {"a": 1})
)
@example(
    RowState((1, "x"), NONE, NONE, {"a": ((1, "x"), NONE)}, {"a": 2}),
    RowState((1, "x"), NONE, NONE, {}, {"a": 1}),
)
@example(RowState((1, "x"), NONE, NONE, {}, {"a": True}), RowState((1, "x"), NONE, NONE, {}, {"a": 1}))
def test_the_shortcut_agrees_with_the_join_on_loose_states(a: RowState, b: RowState) -> None:
    _agree(a, b)
    _agree(b, a)


@given(OPS, st.sampled_from(["a", "b"]), st.integers(0, 3))
def test_a_write_on_top_of_a_state_takes_the_shortcut(ops: list[tuple[int, str, str, int]], col: str,
                                                     x: int) -> None:  # fmt: skip
    """An update, a delete or a re-insert written on top of a state merges into it as itself."""
    for s in grow(ops):
        if s is None:
            continue
        later = (10_000, "w")
        on_top = write(s, {**(s.values or {}), col: x} if s.alive else None, later)
        if s.values is None or on_top is None:
            continue  # a tombstone without values is left to the join; a write changing nothing
        for merged, lost in (merge(s, on_top), merge(on_top, s)):
            assert merged is on_top and lost == []
        assert merge(s, s)[0] is s  # and a state with itself


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=12,
)


@given(JSON, st.sampled_from(["", " ", "\n", "x", ",1", "]"]), st.sampled_from(["", " ", "\ufeff"]))
def test_the_clocks_parse_is_json_loads(value: object, after: str, before: str) -> None:
    text = before + json.dumps(value, separators=(",", ":")) + after
    try:
        expected = json.loads(text)
    except ValueError as exc:
        with pytest.raises(ValueError) as raised:
            _loads(text)
        assert str(raised.value) == str(exc)
        return
    assert repr(_loads(text)) == repr(expected)  # nan and -0.0 too
