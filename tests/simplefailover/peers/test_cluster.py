"""Three real instances agree (SPEC SF-5): a broken link, a node killed, an instance cut off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.smtp import Inbox, smtp_server

from .cluster import Cluster, Instance, running, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_server("127.0.0.90") as running:
        yield running


@pytest.fixture
def cluster(tmp_path: Path, inbox: tuple[Inbox, int]) -> Iterator[Cluster]:
    # c's own checks of n1 always fail: a broken link between c and n1.
    group = Cluster(tmp_path, smtp_port=inbox[1], faults={"c": ["n1"]})
    with running(group):
        yield group


def settled(cluster: Cluster, address: str) -> bool:
    """Every instance answers address, with one and the same serial."""
    answers = cluster.answers()
    return all(addresses == (address,) for addresses, _ in answers) and len({s for _, s in answers}) == 1


def test_instances_agree(cluster: Cluster, inbox: tuple[Inbox, int]) -> None:
    mails, _ = inbox
    a, _, c = cluster.instances
    n1, n2 = cluster.nodes[0], cluster.nodes[1]
    addr1, addr2 = str(n1.node.address), str(n2.node.address)

    # 1. c alone sees n1 fail: all three still answer n1, with the same serial.
    wait_for("all answering n1 with one serial", lambda: settled(cluster, addr1), 20)
    status = c.status()
    own = {(r["node"], r["polling"]): r["status"] for r in status["checks"]}
    assert own[("n1", "poll1")] == "KO"  # c's own view is shown as it is ...
    assert status["hostnames"][0]["addresses"] == [addr1]  # ... but not served
    peers = status["peers"]
    assert peers["basis"] == "agreed" and not peers["isolated"] and peers["sender"] == "a"
    assert {v["member"]: v["statuses"]["n1/poll1"] for v in peers["views"]} == {
        "a": "OK",
        "b": "OK",
        "c": "KO",
    }

    # 2. c cut off from its peers too: it says so; hearing nobody who sees n1 OK, it answers
    # from its own checks (n2) rather than stay on an address everything it hears sees KO.
    cluster.drop.add("c")
    cluster.reload(c)
    wait_for("c isolated", lambda: c.metric("simplefailover_peers_isolated") == 1, 20)
    wait_for("c on its own checks", lambda: c.answer()[0] == (addr2,), 10)
    status = c.status()
    assert status["peers"]["isolated"] and status["peers"]["basis"] == "alone"
    assert "own checks (alone" in status["hostnames"][0]["reason"]
    assert status["peers"]["agreed"]["n1/poll1"]["why"] == "KO for 1 of 1 instances (c)"
    wait_for("the isolation mail", lambda: mails.matching("isolated"), 10)
    assert not a.status()["peers"]["isolated"] and a.answer()[0] == (addr1,)
    cluster.drop.discard("c")
    cluster.reload(c)
    wait_for("c back", lambda: c.metric("simplefailover_peers_isolated") == 0, 20)
    wait_for("all answering n1 again with one serial", lambda: settled(cluster, addr1), 20)
    serial = a.answer()[1]

    # 3. n1 killed: all three flip, with one serial, and one mail arrives.
    before = len(mails.subjects())
    mailed_before = {i.member: mailed_ko(i) for i in cluster.instances}
    n1.stop()
    wait_for("all answering n2 with one serial", lambda: settled(cluster, addr2), 30)
    assert a.answer()[1] > serial
    wait_for("the failure mail", lambda: len(mails.subjects()) > before, 15)
    for instance in cluster.instances:  # each instance has taken the agreed change
        wait_for(
            f"{instance.member} KO event",
            lambda i=instance: any(e["kind"] == "check" and e["new"] == "KO" for e in i.status()["events"]),
            10,
        )
    time.sleep(2)  # a duplicate would come from another instance's own mail thread: give it time
    new = mails.subjects()[before:]
    assert len(new) == 1, new
    assert "poll1 KO on n1" in new[0]
    senders = [i.member for i in cluster.instances if mailed_ko(i) > mailed_before[i.member]]
    assert senders == ["a"]  # the lowest member id among the healthy instances


def mailed_ko(instance: Instance) -> int:
    """How many 'KO on n1' mails this instance has sent (its mail events)."""
    return sum(e["kind"] == "mail" and "KO on n1" in e["reason"] for e in instance.status()["events"])
