"""Network faults: the plan is bounded, and each fault gives the iptables rules it should."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simplefailover.chaos.netfaults import rules
from simplefailover.chaos.netplan import (
    NET_DURATION,
    NET_KINDS,
    PARTITION_DURATION,
    NetFault,
    describe,
    make_net_plan,
)
from simplefailover.chaos.netverdict import Partition, agreement_spread, judge_partitions
from simplefailover.chaos.verdict import Sample

ADDRESSES = {f"node{i}": f"198.18.20.{10 + i}" for i in range(1, 6)}


@given(seed=st.integers(0, 2**32), window=st.floats(1, 120), size=st.integers(2, 5))
def test_plan_is_bounded_one_at_a_time(seed: int, window: float, size: int) -> None:
    nodes = [f"node{i}" for i in range(1, size + 1)]
    plan = make_net_plan(random.Random(seed), window, nodes)
    for a, b in itertools.pairwise(plan):
        assert a.end <= b.start
    for fault in plan:
        assert fault.start > 0 and fault.end <= window + 0.01
        shortest, longest = PARTITION_DURATION if fault.kind == "partition" else NET_DURATION
        assert shortest - 0.01 <= fault.duration <= longest + 0.01
        assert fault.node in nodes
        if fault.kind == "partition":
            side_a, side_b = fault.sides(nodes)
            assert side_a and side_b and len(side_a) <= max(1, size // 2)
        if fault.kind == "one-way loss":
            assert fault.target in nodes and fault.target != fault.node
        cut = sum(end - start for start, end in fault.cuts())
        assert cut <= fault.duration + 0.01
        assert describe(fault, nodes)


def test_a_long_run_gets_every_kind() -> None:
    kinds = {f.kind for seed in range(5) for f in make_net_plan(random.Random(seed), 300, ["node1", "node2"])}
    assert kinds == set(NET_KINDS)


def test_rules_of_each_fault() -> None:
    nodes = ["node1", "node2", "node3"]
    iso = rules(NetFault(0, 5, "node isolated", "node2"), nodes, ADDRESSES, 52710)
    assert iso == {"node2": [("in", ("-i", "eth0", "-j", "DROP")), ("out", ("-o", "eth0", "-j", "DROP"))]}
    part = rules(NetFault(0, 5, "partition", "node1", group=("node1",)), nodes, ADDRESSES, 52710)
    assert part["node1"] == [
        ("in", ("-s", "198.18.20.12", "-j", "DROP")), ("out", ("-d", "198.18.20.12", "-j", "DROP")),
        ("in", ("-s", "198.18.20.13", "-j", "DROP")), ("out", ("-d", "198.18.20.13", "-j", "DROP")),
    ]  # fmt: skip
    assert part["node2"] == [
        ("in", ("-s", "198.18.20.11", "-j", "DROP")),
        ("out", ("-d", "198.18.20.11", "-j", "DROP")),
    ]
    one_way = rules(NetFault(0, 5, "one-way loss", "node3", target="node1"), nodes, ADDRESSES, 52710)
    assert one_way == {"node3": [("out", ("-d", "198.18.20.11", "-j", "DROP"))]}
    loss = rules(NetFault(0, 5, "30% loss", "node1"), nodes, ADDRESSES, 52710)["node1"]
    assert all("0.3" in match and "statistic" in match for _, match in loss) and len(loss) == 2
    peers = rules(NetFault(0, 5, "peers cut", "node1"), nodes, ADDRESSES, 52710)["node1"]
    assert all(match[4:6] == ("--dport", "52710") and "udp" in match for _, match in peers)
    with pytest.raises(ValueError):
        rules(NetFault(0, 5, "meteor", "node1"), nodes, ADDRESSES, 52710)


def test_flapping_cuts_alternate() -> None:
    assert NetFault(1, 7, "link flapping", "node1", period=2).cuts() == [(1, 3), (5, 7)]
    assert NetFault(1, 4, "node isolated", "node1").cuts() == [(1, 5)]
    assert NetFault(1, 4, "peers cut", "node1").cuts() == []


def test_partition_sides_are_reported_and_crossing_answers_fail() -> None:
    addresses = {n: ADDRESSES[n] for n in ("node1", "node2", "node3")}
    part = Partition(10, 30, (("node1",), ("node2", "node3")))
    samples = [
        Sample(12, "node1", ("198.18.20.12",)),  # within the bound: reported, not judged
        Sample(20, "node1", ("198.18.20.11",)),
        Sample(21, "node1", ("198.18.20.12",)),  # across the partition after the bound: fails
        Sample(22, "node2", ("198.18.20.12",)),
        Sample(23, "node3", tuple(addresses.values())),  # all nodes: the all-down policy
        Sample(24, "node3", None),
        Sample(31, "node2", ("198.18.20.11",)),  # after the heal
    ]
    reports, violations = judge_partitions(samples, [part], addresses, bound=7)
    assert [r.side for r in reports] == [("node1",), ("node2", "node3")]
    assert reports[0].answers == {"node1": 1, "node2": 2}
    assert reports[1].answers == {"node2": 1, "node1,node2,node3": 1, "(no answer)": 1}
    assert len(violations) == 1 and violations[0].startswith("node1 (side node1) answered node2")


def test_agreement_spread() -> None:
    assert agreement_spread({"a": 1.0, "b": 1.4, "c": 1.1}) == pytest.approx(0.4)
    assert agreement_spread({"a": 1.0, "b": None}) is None
