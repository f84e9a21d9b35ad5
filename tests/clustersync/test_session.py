"""Sync sessions over real TCP between in-process members (created with the real CLI code).

Addresses 127.0.0.65-67 with free ports (see nodes.py for why not 127.0.0.11-14).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from clustersync.cli.main import main as clustersync
from clustersync.config import load_settings
from clustersync.sync.daemon import Node
from clustersync.sync.session import offset_of

from .conftest import content
from .nodes import NodeDir, make_nodes, wait_for


def write(path: Path, sql: str, *params: object) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(sql, params)
    db.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeDir, NodeDir]]:
    a, b = make_nodes(tmp_path, ["127.0.0.65", "127.0.0.66"])
    write(a.db, "INSERT INTO items (id, v) VALUES (1, 'from the first node')")
    assert clustersync(["create", "-c", str(a.config)]) == 0
    assert (tmp_path / "cluster.secret").stat().st_mode & 0o777 == 0o600
    yield a, b


def started(node: NodeDir) -> Node:
    member = Node(load_settings(node.config))
    member.start(loop=False)  # the test drives the rounds
    return member


def test_offset_formula() -> None:
    # Peer 10 s ahead, 0.2 s each way.
    assert offset_of(100.0, 110.2, 110.3, 100.5) == pytest.approx(10.0)


def test_join_then_sync_both_ways(pair: tuple[NodeDir, NodeDir]) -> None:
    a, b = pair
    write(b.db, "INSERT INTO items (id, v) VALUES (9, 'replaced by the join')")
    first = started(a)
    try:
        assert clustersync(["join", "-c", str(b.config), "--peer", a.peer]) == 0
        assert content(b.db) == content(a.db) == {1: (1, "from the first node", None, None)}
        second = started(b)
        try:
            write(a.db, "INSERT INTO items (id, v) VALUES (2, 'a')")
            write(b.db, "INSERT INTO pairs VALUES ('k', 1, 'b')")
            report = second.run_round()
            assert report is not None and report.ok, report
            assert report.offset is not None and abs(report.offset) < 1
            assert content(a.db) == content(b.db) and len(content(a.db)) == 2
            assert content(a.db, "pairs") == content(b.db, "pairs") == {"k": ("k", 1, "b")}
            assert [m.node_id for m in first.store.members()] == ["n1", "n2"]
        finally:
            second.stop()
    finally:
        first.stop()


def test_join_refused_for_other_address_family(pair: tuple[NodeDir, NodeDir]) -> None:
    a, b = pair
    b.write_config(address="::1")
    b.address = "::1"
    first = started(a)
    try:
        code = clustersync(["join", "-c", str(b.config), "--peer", a.peer])
        assert code == 1
        assert [m.node_id for m in first.store.members()] == ["n1"]
    finally:
        first.stop()


def test_clock_offset_above_limit_stops_data_until_back(
    pair: tuple[NodeDir, NodeDir], tmp_path: Path
) -> None:
    a, b = pair
    first = started(a)
    try:
        assert clustersync(["join", "-c", str(b.config), "--peer", a.peer]) == 0
        b.write_config(test_clock_offset=20)
        second = started(b)
        try:
            write(b.db, "INSERT INTO items (id, v) VALUES (5, 'from b')")
            write(a.db, "INSERT INTO items (id, v) VALUES (6, 'from a')")
            report = second.run_round()
            assert report is not None and report.refused == "clock", report
            assert report.offset == pytest.approx(-20, abs=1)
            assert 5 not in content(a.db) and 6 not in content(b.db)
            assert second.health.clock_refused
            wait_for(lambda: bool(first.health.clock_refused), 5, "the server side to report the offset")
            status = clustersync(["status", "-c", str(b.config), "--json"])
            assert status == 0
        finally:
            second.stop()
        b.write_config(test_clock_offset=0)
        second = started(b)
        try:
            report = second.run_round()
            assert report is not None and report.ok, report
            assert content(a.db) == content(b.db) and {5, 6} <= set(content(a.db))
            assert not second.health.clock_refused
        finally:
            second.stop()
    finally:
        first.stop()


def test_successor_down_then_next_member_then_failback(tmp_path: Path) -> None:
    a, b, c = make_nodes(tmp_path, ["127.0.0.65", "127.0.0.66", "127.0.0.67"])
    for node in (a, b, c):
        node.write_config(retry_interval=0.5)
    assert clustersync(["create", "-c", str(a.config)]) == 0
    nodes = [started(a)]
    try:
        for node in (b, c):
            assert clustersync(["join", "-c", str(node.config), "--peer", a.peer]) == 0
            nodes.append(started(node))
        first, second = nodes[0], nodes[1]
        assert first.run_round().peer == "n2"  # type: ignore[union-attr]
        second.stop()
        report = first.run_round()
        assert report is not None and report.ok and report.peer == "n3"
        assert first.health.successor == "n2"
        nodes[1] = started(b)
        peers: list[str] = []

        def back_to_successor() -> bool:
            report = first.run_round()
            peers.append(report.peer if report else "")
            return peers[-1] == "n2"

        wait_for(back_to_successor, 10, "failback to the successor")
        assert set(peers) <= {"n2", "n3"}
    finally:
        for node in nodes:
            node.stop()
