"""Ring order and the choice of peers (SPEC CL-5), pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clustersync.core.ring import choose_peers, ring_order
from clustersync.store.database import Member


def ring(*positions: int) -> list[Member]:
    return [Member(f"n{p}", f"127.0.0.{p}", 1, 2, p, "1") for p in positions]


def ids(members: list[Member]) -> list[str]:
    return [m.node_id for m in members]


def test_successor_first_then_ring_order_wrapping() -> None:
    members = ring(1, 2, 3, 4)
    assert ids(ring_order(members, "n1")) == ["n2", "n3", "n4"]
    assert ids(ring_order(members, "n3")) == ["n4", "n1", "n2"]
    assert ids(ring_order(members, "n4")) == ["n1", "n2", "n3"]
    assert ids(ring_order(ring(7, 2, 5), "n5")) == ["n7", "n2"]  # by position, not by list order


def test_a_failed_successor_is_skipped_until_its_retry_time() -> None:
    members = ring(1, 2, 3, 4)
    failed = {"n2": 10.0}
    assert ids(choose_peers(members, "n1", failed, 5.0)) == ["n3", "n4"]
    assert ids(choose_peers(members, "n1", failed, 10.0)) == ["n2", "n3", "n4"]  # retried first: failback
    everyone = {"n2": 10.0, "n3": 10.0, "n4": 10.0}
    assert ids(choose_peers(members, "n1", everyone, 5.0)) == ["n2", "n3", "n4"]  # nobody left: try all


@given(
    positions=st.lists(st.integers(1, 50), min_size=1, max_size=8, unique=True),
    data=st.data(),
)
def test_every_other_member_once_and_the_ring_is_consistent(
    positions: list[int], data: st.DataObject
) -> None:
    members = ring(*positions)
    me = data.draw(st.sampled_from(members))
    order = ring_order(members, me.node_id)
    assert sorted(ids(order)) == sorted(m.node_id for m in members if m is not me)
    if order:
        # Following successors from any member visits everyone exactly once.
        seen, at = [], me.node_id
        for _ in members:
            at = ring_order(members, at)[0].node_id
            seen.append(at)
        assert sorted(seen) == sorted(ids(members))
