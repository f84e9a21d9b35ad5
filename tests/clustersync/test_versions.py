"""Versions (SPEC CL-10) with real members on 127.0.0.110-111: mismatch means not ready, no data moves.

A rolling update done in the wrong order (the second node first) is warned about by
upgrade-check; once the first node runs the same version, both are ready and converge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clustersync import __version__

from .conftest import content
from .ha import configure, http, metric, running_cluster, status, write_items
from .nodes import NodeDir, wait_for

pytestmark = pytest.mark.slow

NEW = "9.9.9"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[NodeDir]]:
    with running_cluster(tmp_path, 2, 110) as nodes:
        yield nodes


def restart(node: NodeDir, **cluster: object) -> None:
    node.kill()
    configure(node, None, **cluster)
    node.start()


def refusals(node: NodeDir) -> float:
    return metric(node, 'clustersync_sessions_total{outcome="version"}')


def test_mismatch_is_not_ready_and_moves_nothing_until_versions_match(pair: list[NodeDir]) -> None:
    n1, n2 = pair
    write_items(n1, 1, 5)
    wait_for(lambda: content(n1.db) == content(n2.db) and len(content(n2.db)) == 5, 20, "a first sync")
    assert http(n1, "/health")[0] == http(n2, "/health")[0] == 200
    assert n1.cli("upgrade-check").returncode == 0  # same versions everywhere

    restart(n2, test_version=NEW)  # the second node updated first: wrong order
    check = n2.cli("upgrade-check", check=False)
    assert check.returncode == 1
    assert f"WARNING: the first node n1 (position 1) runs {__version__}" in check.stdout
    assert "update n1 first" in check.stdout
    for node in pair:
        wait_for(lambda node=node: http(node, "/health")[0] == 503, 20, f"{node.node_id} not ready")  # type: ignore[misc]
        assert "version mismatch" in http(node, "/health")[1]["reason"]
    assert "version mismatch" in status(n2)["alarms"]["readiness"]["reason"]
    assert {m["id"]: m["version"] for m in status(n2)["members"]} == {"n1": __version__, "n2": NEW}

    write_items(n1, 100, 5)
    write_items(n2, 200, 5)
    before = refusals(n1)
    wait_for(lambda: refusals(n1) >= before + 3, 20, "n1 to be refused a few more times")
    assert 200 not in content(n1.db) and 100 not in content(n2.db)  # no data moved either way

    restart(n1, test_version=NEW)  # now the first node is updated too
    assert n2.cli("upgrade-check").returncode == 0
    wait_for(lambda: content(n1.db) == content(n2.db) and len(content(n1.db)) == 15, 30, "convergence")
    for node in pair:
        wait_for(lambda node=node: http(node, "/health")[0] == 200, 20, f"{node.node_id} ready")  # type: ignore[misc]
    assert {m["version"] for m in status(n1)["members"]} == {NEW}
