"""Maintenance and pins across three real instances (SPEC SF-11): set on one, applied by all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.simplefailover.peers.cluster import FQDN, Cluster, Instance, running, wait_for
from tests.support.cli import simplefailover
from tests.support.smtp import Inbox, smtp_server

pytestmark = pytest.mark.timeout(240)

INSTANCE_HOSTS = ("127.0.22.1", "127.0.22.2", "127.0.22.3")
NODE_HOSTS = ("127.0.22.4", "127.0.22.5", "127.0.22.6")


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_server(INSTANCE_HOSTS[0]) as running:
        yield running


@pytest.fixture
def cluster(tmp_path: Path, inbox: tuple[Inbox, int]) -> Iterator[Cluster]:
    group = Cluster(
        tmp_path,
        smtp_port=inbox[1],
        instance_hosts=INSTANCE_HOSTS,
        node_hosts=NODE_HOSTS,
        extra=f"history: {{state_dir: '{tmp_path}/state-{{member}}'}}\n",
    )
    with running(group):
        yield group


def all_answer(cluster: Cluster, address: str) -> bool:
    return all(addresses == (address,) for addresses, _ in cluster.answers())


def control(instance: Instance, *args: str) -> tuple[int, str]:
    done = simplefailover(*args, "-c", str(instance.config_path))
    return done.returncode, done.stdout + done.stderr


def in_maintenance(instance: Instance) -> list[str]:
    return [m["node"] for m in instance.status()["maintenance"] if m["in_force"]]


def test_maintenance_and_pins_are_cluster_wide(cluster: Cluster, inbox: tuple[Inbox, int]) -> None:
    mails, _ = inbox
    a, b, c = cluster.instances
    n1, n2, _ = (str(n.node.address) for n in cluster.nodes)
    wait_for("all answering n1", lambda: all_answer(cluster, n1), 20)

    # 1. n1 in maintenance through b: every instance answers n2, n1's checks stay OK and shown.
    rc, out = control(b, "maintenance", "on", "n1", "--reason", "patching")
    assert rc == 0, out
    wait_for("all answering n2", lambda: all_answer(cluster, n2), 5)
    for instance in cluster.instances:
        status = instance.status()
        assert in_maintenance(instance) == ["n1"]
        assert status["maintenance"][0]["reason"] == "patching"
        row = next(r for r in status["checks"] if r["node"] == "n1")
        assert row["status"] == "OK" and row["maintenance"]
        assert "in maintenance" in status["hostnames"][0]["reason"]
    metrics = requests.get(f"http://{a.host}:{a.web_port}/metrics", timeout=2).text
    assert 'simplefailover_node_maintenance{node="n1"} 1.0' in metrics
    assert 'simplefailover_node_maintenance{node="n2"} 0.0' in metrics
    wait_for("the start mail", lambda: mails.matching("n1: maintenance started"), 10)

    # 2. n1 fails during its maintenance: no failure mail (checked below: the next mail is the end).
    cluster.nodes[0].stop()
    wait_for("n1 seen KO", lambda: any(r["status"] == "KO" for r in a.status()["checks"]), 10)
    cluster.nodes[0].start()
    wait_for("n1 seen OK", lambda: all(r["status"] == "OK" for r in a.status()["checks"]), 10)

    # 3. Pre-flight: n1 and n2 out would leave n3 alone; n3 too would leave ias with no OK node.
    assert control(a, "maintenance", "on", "n2")[0] == 0
    rc, out = control(c, "maintenance", "on", "n3")
    assert rc == 1 and FQDN in out and "--force" in out, out
    assert control(a, "maintenance", "off", "n2")[0] == 0

    # 4. A pin wins over the checks and the maintenance; unpinned, the checks choose again.
    assert control(c, "pin", "ias", "n1", "--reason", "drill")[0] == 0
    wait_for("all answering the pin", lambda: all_answer(cluster, n1), 5)
    rc, out = control(a, "maintenance", "list", "--json")
    assert rc == 0 and {e["kind"] for e in json.loads(out)} == {"maintenance", "pin"}, out
    assert control(b, "unpin", "ias")[0] == 0
    wait_for("all answering n2 again", lambda: all_answer(cluster, n2), 5)

    # 5. Every instance restarted: still in maintenance, without a second start mail.
    cluster.stop_instances()
    cluster.start_instances()
    wait_for("all answering n2 after the restart", lambda: all_answer(cluster, n2), 10)
    assert all(in_maintenance(i) == ["n1"] for i in cluster.instances)

    # 6. A window that ends by itself: back to n1, one end mail, and never a failure mail.
    assert control(c, "maintenance", "on", "n1", "--for", "2s")[0] == 0
    wait_for("the window ended: all answering n1", lambda: all_answer(cluster, n1), 15)
    wait_for("the end mail", lambda: mails.matching("n1: maintenance ended"), 10)
    subjects = mails.subjects()
    assert len(mails.matching("n1: maintenance started")) == 1, subjects
    assert len(mails.matching("n2: maintenance started")) == 1, subjects
    assert all(s.endswith(("started", "ended")) for s in subjects), subjects  # no failure mail
    assert all(in_maintenance(i) == [] for i in cluster.instances)
