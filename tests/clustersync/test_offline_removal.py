"""A member removed while offline for longer than gc_interval learns it was removed (127.0.0.184-186).

The others garbage-collect tombstones every remaining member has, but keep those of member
rows, so the returning node's first session is refused as removed and no data moves.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import content
from .ha import http, members, metric, running_cluster, status
from .nodes import NodeDir, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[list[NodeDir]]:
    with running_cluster(tmp_path, 3, 184, gc_interval=0.5) as nodes:
        yield nodes


def sql(node: NodeDir, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    db = sqlite3.connect(node.db, timeout=10)
    try:
        with db:
            return db.execute(statement, params).fetchall()
    finally:
        db.close()


def versions(node: NodeDir, table: str, key: str) -> list[tuple[object, ...]]:
    """The row's versions in _cs_rows (a tombstone is (1,))."""
    return sql(node, "SELECT deleted FROM _cs_rows WHERE tbl = ? AND pk = ?", (table, key))


def test_a_member_removed_while_offline_past_gc_is_told_on_return(trio: list[NodeDir]) -> None:
    n1, n2, n3 = trio
    sql(n1, "INSERT INTO items (id, v) VALUES (1, 'everyone')")
    wait_for(lambda: all(1 in content(n.db) for n in trio), 20, "row 1 everywhere")
    assert n3.proc is not None
    os.kill(n3.proc.pid, signal.SIGSTOP)  # offline: it hears nothing from now on

    assert "n3 removed" in n1.cli("remove", "n3").stdout
    wait_for(lambda: members(n1) == members(n2) == {"n1", "n2"}, 20, "n1 and n2 to drop n3")
    # GC runs on the others: a tombstone both remaining members have is dropped on both...
    sql(n1, "DELETE FROM items WHERE id = 1")
    wait_for(lambda: not versions(n1, "items", "[1]") and not versions(n2, "items", "[1]"), 20, "GC")
    # ...but not the member row's.
    assert versions(n1, "_cs_members", '["n3"]') == versions(n2, "_cs_members", '["n3"]') == [(1,)]

    os.kill(n3.proc.pid, signal.SIGCONT)
    wait_for(lambda: http(n3, "/health")[0] == 503, 20, "n3 to learn it was removed")
    assert "removed from the cluster" in status(n3)["alarms"]["readiness"]["reason"]
    assert 1 in content(n3.db)  # it keeps its data; the deletion made after its removal never came

    # No data moves either way.
    sql(n3, "INSERT INTO items (id, v) VALUES (900, 'n3 only')")
    sql(n1, "INSERT INTO items (id, v) VALUES (500, 'n1')")
    wait_for(lambda: 500 in content(n2.db), 20, "n2 to get n1's row")
    rounds = metric(n2, 'clustersync_sessions_total{outcome="ok"}')
    wait_for(lambda: metric(n2, 'clustersync_sessions_total{outcome="ok"}') >= rounds + 3, 20, "more rounds")
    assert 900 not in content(n1.db) and 900 not in content(n2.db)
    assert 500 not in content(n3.db)
    assert members(n1) == members(n2) == {"n1", "n2"}  # its own row did not come back either
