"""Crash safety: kill -9 a real `clustersync run` at random points while it syncs.

A writer commits rows on n1 the whole time; n2 is killed and restarted in a bounded loop,
with small batches so kills land inside sessions. At the end n2 has every committed row,
and its duplicate counter (versions received that it already had, which only happens if a
vector lagged behind its rows) is zero. Addresses 127.0.0.71-72 (not the issue's
127.0.0.11-14, used by other suites' demo nodes).
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import content
from .nodes import NodeDir, make_nodes, wait_for

pytestmark = pytest.mark.slow

MAX_ROWS = 20000  # the writer stops at this bound or when the kill loop ends
KILLS = 8


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeDir, NodeDir]]:
    nodes = make_nodes(tmp_path, ["127.0.0.71", "127.0.0.72"])
    for node in nodes:
        node.write_config(batch_rows=20, sync_interval=0.2)
    try:
        nodes[0].cli("create")
        nodes[0].start()
        nodes[1].cli("join", "--peer", nodes[0].peer)
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.kill()


def counter(node: NodeDir, key: str) -> int:
    db = sqlite3.connect(node.db)
    try:
        row = db.execute("SELECT value FROM _cs_meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


def test_kill_9_during_sync_loses_nothing_and_applies_nothing_twice(pair: tuple[NodeDir, NodeDir]) -> None:
    writer_node, victim = pair
    done = threading.Event()
    committed: list[int] = []

    def writer() -> None:
        db = sqlite3.connect(writer_node.db, timeout=30)
        for start in range(0, MAX_ROWS, 20):
            if done.is_set():
                break
            with db:
                for i in range(start, start + 20):
                    db.execute("INSERT INTO items (id, v) VALUES (?, ?)", (i, "x" * 100))
            committed.extend(range(start, start + 20))
            done.wait(0.01)
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    rng = random.Random(6)
    try:
        for _ in range(KILLS):
            victim.start()
            done.wait(rng.uniform(0.1, 1.0))  # the kill lands at a random point of its sessions
            victim.kill()
    finally:
        done.set()
        thread.join(60)
    assert counter(victim, "applied") > 0, "the victim never synced before being killed"
    rows = len(committed)
    victim.start()
    wait_for(lambda: len(content(victim.db)) == rows, 60, f"the victim to catch up to {rows} rows")
    assert content(victim.db) == content(writer_node.db)
    assert counter(victim, "duplicates") == 0
    assert counter(victim, "conflicts") == 0
