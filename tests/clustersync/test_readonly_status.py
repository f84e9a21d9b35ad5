"""Looking never writes: `clustersync status` and the HA page leave the database untouched.

Found on main before: every `status` dropped and re-created the capture triggers inside
BEGIN IMMEDIATE (PRAGMA schema_version 16 -> 28 -> 40 over two calls), and the HA page did
the same on every refresh. Real `clustersync run` processes; the HA page through the
dashboard's Flask app on the same files.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from clustersync.store.reads import ReadOnly
from simplefailover.config import load_config
from simplefailover.dashboard import create_app
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics

from .ha import running_cluster, status, write_items
from .nodes import NodeDir, wait_for


def schema_version(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return int(conn.execute("PRAGMA schema_version").fetchone()[0])
    finally:
        conn.close()


def count(node: NodeDir) -> int:
    conn = sqlite3.connect(node.db, timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        conn.close()


def test_status_and_ha_page_never_write(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 2, 11, net="127.0.17") as (n1, n2):
        write_items(n1, 1, 5)
        wait_for(lambda: count(n2) == 5, 30, "the rows on n2")
        before = schema_version(n1.db)
        first = status(n1)
        second = status(n1)
        assert {m["id"] for m in second["members"]} == {"n1", "n2"} and second["member"]
        assert first["counters"]["applied"] == second["counters"]["applied"]
        assert schema_version(n1.db) == before, "clustersync status changed the schema"

        client = create_app(Engine(load_config(n1.config)), Metrics(), {"TESTING": True}).test_client()
        for _ in range(2):  # two refreshes of the page
            page = client.get("/ha")
            assert page.status_code == 200 and "n2" in page.get_data(as_text=True)
        assert schema_version(n1.db) == before, "the HA page changed the schema"

        # No write lock either: status answers while an application holds a write transaction.
        app = sqlite3.connect(n1.db, timeout=10, isolation_level=None)
        app.execute("BEGIN IMMEDIATE")
        try:
            held = n1.cli("status", "--json", check=False)
        finally:
            app.execute("ROLLBACK")
            app.close()
        assert held.returncode == 0, held.stderr

        # The daemon's own restart finds its triggers as they should be: nothing re-created.
        n1.kill()
        n1.start()
        write_items(n1, 6, 1)
        wait_for(lambda: count(n2) == 6, 30, "a row written after the restart on n2")
        assert schema_version(n1.db) == before, "restarting clustersync run re-created the triggers"


def test_read_only_view_of_a_database_clustersync_never_touched(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    sqlite3.connect(path).execute("CREATE TABLE t (id INTEGER PRIMARY KEY)").connection.close()
    with ReadOnly(path, "n1") as view:
        assert view.members() == [] and view.meta("member") is None and view.pending() == 0
        assert view.known() == {"n1": {}} and view.quarantined() == []
    with ReadOnly(tmp_path / "missing.db", "n1") as view:
        assert view.vector() == {}
    assert not (tmp_path / "missing.db").exists()
