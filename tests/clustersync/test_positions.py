"""Unique ring positions after concurrent joins through different members (127.0.0.180-183).

Each admitting member records highest + 1, so two joins through two members at once record
the same position; every member shows ring.effective_positions of the same rows instead.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clustersync import __version__
from clustersync.core.ring import effective_positions, ring_order
from clustersync.join.members import admit, create
from clustersync.store.database import Member

from .conftest import open_store, sync_one_way
from .ha import configure, members, status
from .nodes import NodeDir, make_nodes, wait_for

rows = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), st.integers(1, 6), max_size=8)


def as_members(recorded: dict[str, int]) -> list[Member]:
    return [Member(node, "127.0.0.180", 1, 2, position, "1") for node, position in recorded.items()]


@given(recorded=rows, seed=st.randoms())
def test_effective_positions_are_unique_in_ring_order_and_the_same_everywhere(
    recorded: dict[str, int], seed: random.Random
) -> None:
    members_ = as_members(recorded)
    shown = effective_positions(members_)
    shuffled = list(members_)
    seed.shuffle(shuffled)
    assert effective_positions(shuffled) == shown  # depends on the rows only, not on their order
    assert len(set(shown.values())) == len(shown)
    by_ring = sorted(recorded, key=lambda n: (recorded[n], n))
    assert sorted(shown, key=lambda n: shown[n]) == by_ring  # the ring's order, unchanged
    assert all(shown[n] >= recorded[n] for n in recorded)
    if len(set(recorded.values())) == len(recorded):
        assert shown == recorded  # no tie: the recorded positions are shown as they are
    if members_:
        at = by_ring.index(members_[0].node_id)
        assert [m.node_id for m in ring_order(members_, by_ring[at])] == by_ring[at + 1 :] + by_ring[:at]


def join_request(node: str, last: int) -> dict[str, object]:
    return {"node": node, "address": f"127.0.0.{last}", "port": 1, "data_port": 2, "version": __version__}


def test_two_stores_admitting_at_once_agree_on_unique_positions(tmp_path: Path) -> None:
    a, b = open_store(tmp_path / "a.db", "n1"), open_store(tmp_path / "b.db", "n2")
    try:
        create(a, "127.0.0.180", 1, 2)
        admit(a, join_request("n2", 181))
        sync_one_way(a, b)
        # Both admit a joiner before hearing of the other's: the same recorded position.
        assert admit(a, join_request("n4", 183)).position == admit(b, join_request("n3", 182)).position == 3
        sync_one_way(a, b)
        sync_one_way(b, a)
        shown = [(m.node_id, m.position) for m in a.members()]
        assert shown == [(m.node_id, m.position) for m in b.members()]
        assert shown == [("n1", 1), ("n2", 2), ("n3", 3), ("n4", 4)]
        assert admit(b, join_request("n5", 184)).position == 5  # the next join takes a free one
    finally:
        a.close()
        b.close()


@pytest.fixture
def four(tmp_path: Path) -> Iterator[list[NodeDir]]:
    nodes = make_nodes(tmp_path, [f"127.0.0.{180 + i}" for i in range(4)])
    try:
        yield nodes
    finally:
        for node in nodes:
            node.kill()


def recorded(node: NodeDir) -> dict[str, int]:
    db = sqlite3.connect(node.db, timeout=10)
    try:
        return dict(db.execute("SELECT node_id, position FROM _cs_members").fetchall())
    finally:
        db.close()


@pytest.mark.slow
def test_concurrent_joins_through_two_members_end_with_distinct_agreed_positions(
    four: list[NodeDir],
) -> None:
    n1, n2, n3, n4 = four
    for node in four:
        configure(node)
    n1.cli("create")
    n1.start()
    assert n2.cli("join", "--peer", n1.peer, check=False).returncode == 0
    n2.start()
    wait_for(lambda: members(n1) == members(n2) == {"n1", "n2"}, 20, "n1 and n2 to know each other")

    # n1's clock 100 s ahead: n1 and n2 refuse each other's sessions, so neither hears of the
    # join the other admits. n3 (same offset) joins through n1, n4 through n2, at once.
    n1.kill()
    configure(n1, test_clock_offset=100)
    configure(n3, test_clock_offset=100)
    n1.start()
    joins = [n3.cli("join", "--peer", n1.peer, check=False), n4.cli("join", "--peer", n2.peer, check=False)]
    assert [j.returncode for j in joins] == [0, 0], [j.stderr for j in joins]
    assert recorded(n1)["n3"] == recorded(n2)["n4"] == 3  # the collision the rule resolves

    n1.kill()
    configure(n1)
    configure(n3)
    for node in (n1, n3, n4):
        node.start()
    everyone = {"n1", "n2", "n3", "n4"}
    wait_for(lambda: all(set(recorded(n)) == everyone for n in four), 30, "every member to know every other")
    assert all(recorded(n)["n3"] == recorded(n)["n4"] == 3 for n in four)  # still recorded alike
    shown = [{m["id"]: m["position"] for m in status(n)["members"]} for n in four]
    assert all(s == shown[0] for s in shown), shown
    assert shown[0] == {"n1": 1, "n2": 2, "n3": 3, "n4": 4}
