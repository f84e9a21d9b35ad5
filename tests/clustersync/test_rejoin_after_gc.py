"""Removal and rejoin are safe: a deleted row never comes back once its tombstone is collected.

GC counts only current members, so a removed member (or one that lags behind a collected
tombstone) may still hold the row's old version. Two guards: members refuse its sessions
(the removal's tombstone is kept), and any version older than what a member has already
seen from that origin, for a row it keeps no version of, is dropped as stale (store.py).
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from clustersync.store.database import Change

from .conftest import content, open_store, sync_one_way
from .ha import members, running_cluster, status
from .nodes import NodeDir, wait_for

pytestmark = pytest.mark.slow


def sql(node: NodeDir | Path, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    db = sqlite3.connect(node.db if isinstance(node, NodeDir) else node, timeout=10)
    try:
        with db:
            return db.execute(statement, params).fetchall()
    finally:
        db.close()


def tombstones(node: NodeDir) -> int:
    return int(sql(node, "SELECT count(*) FROM _cs_rows WHERE tbl = 'items' AND deleted = 1")[0][0])


def test_old_version_after_collected_tombstone_is_dropped(tmp_path: Path) -> None:
    a, b, old = (open_store(tmp_path / f"{n}.db", n) for n in ("a", "b", "old"))
    try:
        sql(a.path, "INSERT INTO items (id, v) VALUES (1, 'doomed'), (2, 'kept')")
        a.stamp()
        sync_one_way(a, old)  # `old` gets the rows, then lags (or is removed)
        sync_one_way(a, b)
        sql(a.path, "DELETE FROM items WHERE id = 1")
        a.stamp()
        sync_one_way(a, b)
        for store in (a, b):  # GC on the members that count: the tombstone is gone
            store.db.execute("DELETE FROM _cs_rows WHERE deleted = 1")
        sync_one_way(old, a)  # the old version comes back from the lagging copy...
        sync_one_way(old, b)
        assert content(a.path) == content(b.path) == {2: (2, "kept", None, None)}  # ...and is dropped
        # Even sent regardless of a's vector (a peer with a wrong view of it), it is dropped.
        row = old.db.execute("SELECT * FROM _cs_rows WHERE pk = '[1]' AND tbl = 'items'").fetchone()
        a.apply([Change(row[0], row[1], row[2], row[3], bool(row[4]), *row[5:])])
        assert a.counter("stale") == 1 and 1 not in content(a.path)
    finally:
        for store in (a, b, old):
            store.close()


def test_removed_then_rejoined_after_gc_resurrects_nothing(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 3, 51, net="127.0.17", gc_interval=0.5) as nodes:
        n1, n2, n3 = nodes
        sql(n1, "INSERT INTO items (id, v) VALUES (1, 'doomed'), (2, 'doomed'), (3, 'kept')")
        wait_for(lambda: all(set(content(n.db)) == {1, 2, 3} for n in nodes), 20, "rows everywhere")
        assert n3.proc is not None
        os.kill(n3.proc.pid, signal.SIGSTOP)  # offline, with the rows
        assert "n3 removed" in n1.cli("remove", "n3").stdout
        wait_for(lambda: members(n1) == members(n2) == {"n1", "n2"}, 20, "n1 and n2 to drop n3")
        sql(n2, "DELETE FROM items WHERE id IN (1, 2)")
        wait_for(lambda: set(content(n1.db)) == {3}, 20, "the deletion on n1")
        wait_for(lambda: tombstones(n1) == tombstones(n2) == 0, 20, "GC of the tombstones on n1 and n2")

        os.kill(n3.proc.pid, signal.SIGCONT)  # back, still holding rows 1 and 2
        wait_for(
            lambda: "removed" in status(n3)["alarms"]["readiness"]["reason"], 20, "n3 to learn it was removed"
        )
        joined = n3.cli("join", "--peer", n1.peer, check=False)  # under the same id
        assert joined.returncode == 0, joined.stderr
        wait_for(
            lambda: members(n1) == members(n2) == members(n3) == {"n1", "n2", "n3"}, 30, "n3 a member again"
        )
        sql(n3, "INSERT INTO items (id, v) VALUES (4, 'from n3 after the rejoin')")
        wait_for(lambda: all(set(content(n.db)) == {3, 4} for n in nodes), 30, "n3's new row everywhere")
        for node in nodes:
            assert set(content(node.db)) == {3, 4}, f"a deleted row came back on {node.node_id}"
