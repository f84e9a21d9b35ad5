"""Remove (SPEC CL-9) and immutable identity (CL-3), with real members on 127.0.0.104-106.

The others drop a removed member without a restart; the removed one notices, stops syncing,
keeps its data and can join again as a new member.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clustersync.cli.main import main as clustersync
from clustersync.config import load_settings
from clustersync.core.errors import ClusterSyncError
from clustersync.ops.control import removed_refusal
from clustersync.sync.daemon import Node

from .conftest import content
from .ha import configure, http, members, metric, running_cluster, status, write_items
from .nodes import NodeDir, make_nodes, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[list[NodeDir]]:
    with running_cluster(tmp_path, 3, 104) as nodes:
        yield nodes


def same(nodes: list[NodeDir], rows: int) -> bool:
    tables = [content(n.db) for n in nodes]
    return len(tables[0]) == rows and all(t == tables[0] for t in tables)


def test_remove_then_rejoin(trio: list[NodeDir]) -> None:
    n1, n2, n3 = trio
    for i, node in enumerate(trio):
        write_items(node, 100 * (i + 1), 10)
    wait_for(lambda: same(trio, 30), 30, "three members identical")
    pids = [n.proc.pid for n in trio if n.proc]

    removed = n1.cli("remove", "n3")
    assert "n3 removed" in removed.stdout
    wait_for(lambda: members(n1) == members(n2) == {"n1", "n2"}, 20, "n1 and n2 to drop n3")
    wait_for(lambda: not http(n3, "/health")[1]["ready"], 20, "n3 to notice its removal")
    assert http(n3, "/health")[0] == 503
    assert "removed from the cluster" in status(n3)["alarms"]["readiness"]["reason"]
    assert [n.proc.pid for n in trio if n.proc] == pids  # nobody restarted
    kept = content(n3.db)
    assert len(kept) == 30  # the removed node keeps its data

    # It stops syncing: new rows on either side stay there.
    write_items(n1, 500, 5)
    write_items(n3, 900, 5)
    wait_for(lambda: same([n1, n2], 35), 20, "n1 and n2 to share the new rows")
    rounds = metric(n2, 'clustersync_sessions_total{outcome="ok"}')
    wait_for(lambda: metric(n2, 'clustersync_sessions_total{outcome="ok"}') >= rounds + 3, 20, "more rounds")
    assert 900 not in content(n1.db) and 900 not in content(n2.db)
    assert 500 not in content(n3.db) and 900 in content(n3.db)
    assert http(n1, "/health")[0] == 200 and status(n1)["alarms"]["activity"]["state"] == "green"

    # It joins again as a new member, its data replaced by the cluster's; its run process resumes.
    joined = n3.cli("join", "--peer", n1.peer, check=False)
    assert joined.returncode == 0, joined.stderr
    wait_for(lambda: all(members(n) == {"n1", "n2", "n3"} for n in trio), 20, "n3 a member again everywhere")
    wait_for(lambda: http(n3, "/health")[0] == 200, 20, "n3 ready again without a restart")
    assert [n.proc.pid for n in trio if n.proc] == pids
    write_items(n3, 700, 5)
    wait_for(lambda: same(trio, 40), 30, "all three identical again")
    positions = {m["id"]: m["position"] for m in status(n1)["members"]}
    assert positions["n3"] > positions["n2"]

    # A node can be removed by a command run on itself: another member records it.
    gone = n2.cli("remove", "n2")
    assert "n2 removed" in gone.stdout and "recorded by n3" in gone.stdout
    wait_for(lambda: members(n1) == members(n3) == {"n1", "n3"}, 20, "n1 and n3 to drop n2")
    wait_for(lambda: http(n2, "/health")[0] == 503, 20, "n2 to notice its removal")


def test_remove_refusals(tmp_path: Path) -> None:
    (a,) = make_nodes(tmp_path, ["127.0.0.107"])
    configure(a)
    not_yet = a.cli("remove", "n1", check=False)
    assert not_yet.returncode == 1 and "not a member: nothing to remove from" in not_yet.stderr
    a.cli("create")
    unknown = a.cli("remove", "nobody", check=False)
    assert unknown.returncode == 1 and "'nobody' is not a member (members: n1)" in unknown.stderr
    alone = a.cli("remove", "n1", check=False)
    assert alone.returncode == 1 and "'n1' is the only member" in alone.stderr


def test_node_id_and_address_are_immutable(tmp_path: Path) -> None:
    (a,) = make_nodes(tmp_path, ["127.0.0.107"])
    configure(a)
    assert clustersync(["create", "-c", str(a.config)]) == 0
    Node(load_settings(a.config)).store.close()  # records the node id
    configure(a, address="127.0.0.108")
    with pytest.raises(ClusterSyncError, match="address cannot change"):
        Node(load_settings(a.config))
    configure(a, node_id="renamed")
    with pytest.raises(ClusterSyncError, match="node id cannot change"):
        Node(load_settings(a.config))
    configure(a)
    Node(load_settings(a.config)).store.close()


def test_a_member_refuses_a_removed_node_but_not_one_admitted_again() -> None:
    tomb = (500, "n1")  # n1 deleted n3's member row at HLC 500
    assert removed_refusal("n3", None, {}) is None  # never heard of: a join on its way
    assert removed_refusal("n3", tomb, {"n3": {"n1": 400}}) == ("removed", "n3 was removed from the cluster")
    assert removed_refusal("n3", tomb, {}) is not None
    assert removed_refusal("n3", tomb, {"n3": {"n1": 500}}) is None  # its copy came after the removal
    assert removed_refusal("n3", tomb, {"n3": {"n1": "junk"}}) is not None
