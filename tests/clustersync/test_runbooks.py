"""The two backup runbooks of docs/operations.md, run as written with real `clustersync` processes.

1. Restore one lost node: remove it, rebuild it (fresh folder), restore its light backup, join.
2. Rebuild a whole cluster from one full backup: restore on a new first node, create, join the others.

Nodes use 127.0.0.134-139 (this suite's addresses) and free ports.
"""

from __future__ import annotations

import shutil
import sqlite3
import tarfile
from pathlib import Path

from .backup_data import REPLICATED, TABLES, dump, fill, prepare
from .nodes import NodeDir, make_nodes, wait_for


def _members(node: NodeDir) -> list[str]:
    db = sqlite3.connect(f"file:{node.db}?mode=ro", uri=True, timeout=10)
    try:
        return [r[0] for r in db.execute("SELECT node_id FROM _cs_members ORDER BY position")]
    finally:
        db.close()


def _same(nodes: list[NodeDir], expected: dict[str, list[tuple[object, ...]]] | None = None) -> bool:
    first = expected if expected is not None else dump(nodes[0].db, REPLICATED)
    return all(dump(n.db, REPLICATED) == first for n in nodes)


def _local(node: NodeDir, tag: str) -> None:
    db = sqlite3.connect(node.db)
    with db:
        db.executemany(
            "INSERT OR REPLACE INTO local_settings VALUES (?, ?)",
            [(f"{tag} smtp.host", "127.0.0.1"), (tag, "é✓")],
        )
    db.close()


def _cluster(nodes: list[NodeDir]) -> None:
    """Create on the first node, join the others through it, run them all."""
    first, *others = nodes
    first.cli("create")
    first.start()
    for node in others:
        node.cli("join", "--peer", first.peer)
        node.start()


def test_restore_one_lost_node(tmp_path: Path) -> None:
    nodes = make_nodes(tmp_path, ["127.0.0.134", "127.0.0.135", "127.0.0.136"])
    n1, n2, n3 = nodes
    try:
        for node in nodes:
            prepare(node)
            _local(node, node.node_id)
        fill(n1.db, 1, 40)
        _cluster(nodes)
        fill(n2.db, 30, 20, tag="n2 ")
        wait_for(lambda: _same(nodes), 30, "the three members to converge")

        # While everything runs: a light backup of n3, as a cron job would take it.
        backups = tmp_path / "backups"
        backups.mkdir()
        n3.cli("backup", "--light", "-o", str(backups / "n3.tar.gz"))
        n3_local = dump(n3.db, ("local_settings",))

        # n3 is lost (process and disk); the cluster goes on and removes it.
        n3.kill()
        shutil.rmtree(n3.folder)
        n1.cli("remove", "n3")
        wait_for(lambda: _members(n2) == ["n1", "n2"], 20, "n2 to learn that n3 was removed")
        fill(n1.db, 100, 10, tag="while n3 is away ")

        # Rebuild n3: a fresh folder with the same config (and the cluster secret), its light
        # backup restored, then a join; its node-local data comes back, the cluster's data
        # (history tables included) comes from the member.
        n3.folder.mkdir()
        n3.write_config(tables=TABLES)
        restored = n3.cli("restore", str(backups / "n3.tar.gz"))
        assert "restored the light backup of n3" in restored.stdout
        assert dump(n3.db, ("local_settings",)) == n3_local
        assert dump(n3.db, ("calls",)) == {"calls": []}  # light: no history
        n3.cli("join", "--peer", n1.peer)
        n3.start()
        wait_for(lambda: _same(nodes), 30, "the rebuilt n3 to catch up")
        wait_for(lambda: all(_members(n) == ["n1", "n2", "n3"] for n in nodes), 20, "all to list n3 again")
        assert dump(n3.db, ("local_settings",)) == n3_local
        assert (
            dump(n3.db, ("calls",)) == dump(n1.db, ("calls",)) and len(dump(n1.db, ("calls",))["calls"]) == 59
        )
        fill(n3.db, 200, 5, tag="from the rebuilt n3 ")
        wait_for(lambda: _same(nodes), 30, "n3's new rows to reach the others")
    finally:
        for node in nodes:
            node.kill()


def test_rebuild_a_whole_cluster_from_one_full_backup(tmp_path: Path) -> None:
    old = make_nodes(tmp_path / "old", ["127.0.0.134", "127.0.0.135"])
    new = make_nodes(tmp_path / "new", ["127.0.0.137", "127.0.0.138", "127.0.0.139"])
    try:
        for node in old + new:
            prepare(node)
        _local(old[1], "o2")
        fill(old[0].db, 1, 50)
        _cluster(old)
        fill(old[1].db, 40, 30, tag="o2 ")
        wait_for(lambda: _same(old), 30, "the old cluster to converge")
        archive = tmp_path / "full.tar.gz"
        old[1].cli("backup", "--full", "-o", str(archive))
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp_path / "extracted", filter="data")
        expected = dump(tmp_path / "extracted" / "database.sqlite")
        assert expected == dump(old[1].db)  # nothing was written meanwhile
        assert len(expected["calls"]) == 69
        # The whole cluster is lost.
        for node in old:
            node.kill()

        m1, m2, _ = new
        restored = m1.cli("restore", str(archive)).stdout
        assert "restored the full backup of n2" in restored
        assert "note: the backup is of node n2, this node is n1" in restored
        _cluster(new)
        expected_replicated = {t: expected[t] for t in REPLICATED}
        wait_for(lambda: _same(new, expected_replicated), 30, "the new members to hold the backup's data")
        assert dump(m1.db, ("local_settings",)) == {"local_settings": expected["local_settings"]}
        assert dump(m2.db, ("local_settings",)) == {"local_settings": []}  # node-local stays local
        assert [_members(n) for n in new] == [["n1", "n2", "n3"]] * 3
        fill(m2.db, 500, 5, tag="new cluster ")
        wait_for(lambda: _same(new), 30, "a write on the new cluster to reach every member")
    finally:
        for node in old + new:
            node.kill()
