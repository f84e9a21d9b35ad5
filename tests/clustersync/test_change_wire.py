"""A batch of changes off the wire: Change.many_from_wire gives what from_wire item by item gives
(the same changes, field types included, or the same error for the first bad item)."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from clustersync.store.changes import Change

ODD = st.sampled_from([None, True, False, 0, 1, 2, -1, 1.0, 0.0, "", "x", [], {}, 2**70])
TEXT = st.text(max_size=4)
HLC = st.integers(min_value=0, max_value=2**63 - 1)


@st.composite
def good(draw: st.DrawFn, width: int) -> list[Any]:
    deleted = draw(st.integers(0, 1))
    data = None if deleted else draw(TEXT)
    item = [draw(TEXT), draw(TEXT), draw(HLC), draw(TEXT), deleted, data, draw(HLC), draw(TEXT)]
    return item if width == 8 else [*item, draw(st.none() | TEXT)]


@st.composite
def spoiled(draw: st.DrawFn, width: int) -> Any:
    """A good item with a field or two replaced by odd values, or cut short, or not a list."""
    item = draw(good(width))
    if draw(st.booleans()):
        item[4] = 1 - item[4]  # a row marked deleted, a tombstone marked alive
        return item
    for _ in range(draw(st.integers(1, 2))):
        item[draw(st.integers(0, width - 1))] = draw(ODD)
    return draw(st.sampled_from([item, item[:7], [*item, None, None], tuple(item), "item", None]))


def outcome(items: list[Any], many: bool) -> Any:
    try:
        changes = Change.many_from_wire(items) if many else [Change.from_wire(i) for i in items]
    except ValueError as exc:
        return str(exc)
    return [[(type(v), v) for v in c] for c in changes]


@given(st.sampled_from([8, 9]).flatmap(lambda w: st.lists(good(w), max_size=6)))
@settings(max_examples=300)
def test_good_batches_are_the_changes_from_wire_builds(items: list[Any]) -> None:
    assert outcome(items, True) == outcome(items, False)


@given(
    st.sampled_from([8, 9]).flatmap(lambda w: st.lists(good(w) | spoiled(w), max_size=5)),
    st.lists(good(8) | good(9), max_size=3),
)
@settings(max_examples=600)
@example([["t", "[1]", 1, "n", 0, None, 0, ""]], [])  # a row without data
@example([["t", "[1]", 1, "n", 1, "{}", 0, ""]], [])  # a tombstone with data
@example([["t", "[1]", 1, "n", 1, "{}", 0, ""], ["t", "[2]", 1, "n", 0, None, 0, ""]], [])
@example([["t", "[1]", True, "n", 0, "{}", 0, ""]], [])  # a boolean version
@example([["t", "[1]", 1, "n", 1.0, None, 0, ""]], [])  # deleted as a float: accepted
def test_bad_batches_fail_as_from_wire_fails(items: list[Any], more: list[Any]) -> None:
    batch = items + more  # mixed widths too
    assert outcome(batch, True) == outcome(batch, False)
