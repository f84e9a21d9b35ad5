"""docs/agreement.md's table, row by row: topology x fault -> what every surviving instance answers.

Real `simplefailover run` processes and real node applications on 127.0.15.x (see
topology.py), faults by kill -9, SIGSTOP and iptables on loopback. Each row prints its
measured time (`-s` shows them: "ROW 2 nodes / node dies whole: ... in 4.1 s").

Nodes have priorities n1 > n2 > ...: every instance answers n1 before the fault.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simplefailover.chaos.firewall import Firewall
from tests.support.smtp import Inbox, smtp_server

from .cluster import wait_for
from .topology import BOUND, SMTP_HOST, Topology, firewall, node_host

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

TOPOLOGIES = {"2": (2, False), "2+w": (2, True), "3": (3, False), "5": (5, False)}
HOLD = BOUND  # a row that must not change is watched this long: any change would come within it
SLACK = 2.0  # seconds beyond the detection bound a moving row may take (sampling, a busy machine)


@dataclass(frozen=True)
class Row:
    topology: str
    fault: str
    expect: dict[str, str]  # surviving member -> the node it answers ("all": every node, all down)
    moves: bool  # the answer changes (timed) or must hold (watched for HOLD seconds)

    @property
    def id(self) -> str:
        return f"{self.topology}-{self.fault}"


FAULTS = {
    "dies": "node dies whole",
    "app": "application only",
    "instance": "instance only",
    "instance-sigstop": "instance only (SIGSTOP)",
    "cut-peers": "instance cut from peers",
    "cut-peers-oneway": "instance cut from peers (one-way: its messages dropped)",
    "cut-node": "instance cut from one node",
    "cut-node-replies": "instance cut from one node (one-way: replies dropped)",
    "split": "two nodes cut from each other",
    "two-die": "two nodes die",
}


def rows() -> list[Row]:
    out = []
    for topology, (count, witness) in TOPOLOGIES.items():
        nodes = [f"n{i}" for i in range(1, count + 1)]
        members = nodes + (["w"] if witness else [])
        others = [m for m in members if m != "n1"]

        def every(node: str, who: list[str] = members) -> dict[str, str]:
            return dict.fromkeys(who, node)

        out += [
            Row(topology, "dies", every("n2", others), True),
            Row(topology, "app", every("n2"), True),
            Row(topology, "instance", every("n1", others), False),
            Row(topology, "cut-peers", every("n1"), False),
            Row(topology, "cut-node", every("n1"), False),
        ]
        if count == 2 and not witness:  # no witness: each side answers its own node
            out.append(Row(topology, "split", {"n1": "n1", "n2": "n2"}, True))
        else:
            out.append(Row(topology, "split", every("n1"), False))
        if witness:
            out.append(Row(topology, "two-die", {"w": "all"}, True))
        elif count > 2:
            out.append(Row(topology, "two-die", every("n3", members[2:]), True))
        if count == 3:  # one-way cuts and SIGSTOP, on the three-node cluster
            out += [
                Row(topology, "instance-sigstop", every("n1", others), False),
                Row(topology, "cut-peers-oneway", every("n1"), False),
                Row(topology, "cut-node-replies", every("n1"), False),
            ]
    return out


def apply(topology: Topology, fault: str) -> None:
    """Make the fault happen (two-die: the first death is awaited, the second returned at once)."""
    last = topology.nodes[-1].id  # the instance cut in the cut rows: not the one answered
    if fault == "dies":
        topology.kill_whole("n1")
    elif fault == "app":
        topology.kill_app("n1")
    elif fault == "instance":
        topology.kill_instance("n1")
    elif fault == "instance-sigstop":
        topology.freeze_instance("n1")
    elif fault in ("cut-peers", "cut-peers-oneway"):
        for other in topology.members:
            if other.id != last:
                topology.cut_peers(last, other.id, both=fault == "cut-peers")
    elif fault in ("cut-node", "cut-node-replies"):
        topology.cut_node(last, "n1", replies=fault == "cut-node-replies")
    elif fault == "split":
        topology.split("n1", "n2")
    elif fault == "two-die":
        topology.kill_whole("n1")
        second = (node_host(2),)
        wait_for("survivors on n2", lambda: set(topology.answers().values()) == {second}, 3 * BOUND)
        topology.kill_whole("n2")
    else:
        raise AssertionError(fault)


LOCK = Path("/run/lock/sf15-agree.lock")


@pytest.fixture(autouse=True)
def exclusive() -> Iterator[None]:
    """One row at a time on this host: every run uses 127.0.15.0/24 and chain SF15-agree, so a
    second run of the matrix (another checkout, another CI job) waits here instead of having
    its cluster cut by this run's rules."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_server(SMTP_HOST) as running:
        yield running


@pytest.fixture(name="firewall")
def firewall_fixture() -> Iterator[Firewall]:
    wall = firewall()
    try:
        yield wall
    finally:
        wall.close()


def report(row: Row, text: str) -> None:
    line = f"ROW {row.topology} / {FAULTS[row.fault]}: {text}"
    print(line)
    results = os.environ.get("SF15_MATRIX_RESULTS")
    if results:
        with open(results, "a") as out:
            out.write(line + "\n")


@pytest.mark.parametrize("row", rows(), ids=lambda r: r.id)
def test_row(row: Row, tmp_path: Path, inbox: tuple[Inbox, int], firewall: Firewall) -> None:
    mails, smtp_port = inbox
    count, witness = TOPOLOGIES[row.topology]
    topology = Topology(tmp_path, count, witness, smtp_port, firewall)
    try:
        topology.start()
        hosts = {n.id: n.host for n in topology.nodes}
        every = tuple(n.host for n in topology.nodes)
        expected = {m: every if node == "all" else (hosts[node],) for m, node in row.expect.items()}

        def as_expected() -> bool:
            return topology.answers() == expected

        outcome = ", ".join(f"{m} -> {n}" for m, n in row.expect.items())
        apply(topology, row.fault)
        started = time.monotonic()
        if row.moves:
            wait_for(f"{row.id}: {expected}", as_expected, 4 * BOUND, every=0.05)
            took = time.monotonic() - started
            report(row, f"{outcome} in {took:.1f} s")
            assert took <= BOUND + SLACK, f"{took:.1f} s: beyond the bound {BOUND:g} s + {SLACK:g} s"
        else:
            watch(as_expected, HOLD)
            fault_took_effect(row, topology)
            report(row, f"{outcome}, unchanged over {HOLD:.0f} s")
        check_mails(row, mails, topology)
    except BaseException:
        print(topology.logs())
        raise
    finally:
        topology.stop()


def watch(condition: Callable[[], bool], seconds: float) -> None:
    """Fail at the first sample where condition does not hold, over `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), "the answer changed"
        time.sleep(0.2)


def own_status(topology: Topology, member: str, node: str) -> str:
    """A member's own check of a node, as its dashboard shows it."""
    checks = topology.member(member).instance.status()["checks"]
    return next(str(c["status"]) for c in checks if c["node"] == node)


def heard_by(topology: Topology, member: str) -> set[str]:
    return set(topology.member(member).instance.status()["peers"]["heard"])


def fault_took_effect(row: Row, topology: Topology) -> None:
    """A row where nothing changes must still have had its fault: see it in the instances' own views."""
    last = topology.nodes[-1].id
    if row.fault in ("cut-node", "cut-node-replies"):
        assert own_status(topology, last, "n1") == "KO"
    elif row.fault == "cut-peers":
        assert heard_by(topology, last) == {last}
    elif row.fault == "cut-peers-oneway":
        assert last not in heard_by(topology, "n1") and len(heard_by(topology, last)) > 1
    elif row.fault in ("instance", "instance-sigstop"):
        assert all("n1" not in heard_by(topology, m.id) for m in topology.alive())
    elif row.fault == "split":
        assert own_status(topology, "n1", "n2") == "KO" and own_status(topology, "n2", "n1") == "KO"
        assert "n2" not in heard_by(topology, "n1")


def check_mails(row: Row, mails: Inbox, topology: Topology) -> None:
    if row.fault == "dies":  # the failure is mailed once, by one survivor
        wait_for("the failure mail", lambda: mails.matching("KO on n1"), 2 * BOUND)
        time.sleep(1.5)  # a duplicate would come from another instance: give it time
        assert len(mails.matching("KO on n1")) == 1, mails.subjects()
    elif not row.moves:  # nothing failed: no failure mail from anyone
        assert not mails.matching(" KO on "), mails.subjects()
