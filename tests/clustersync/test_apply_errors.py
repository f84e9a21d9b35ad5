"""A constraint violation during apply is quarantined, shown, and released once fixed (real processes).

Before: it was reported as "database unreachable" and repeated every round, and nothing
behind it moved. Ring of three `clustersync run` processes on 127.0.17.61-63: n2 alone has
a UNIQUE index that one of n1's rows breaks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .conftest import content
from .ha import running_cluster, status
from .nodes import NodeDir, wait_for

pytestmark = pytest.mark.slow


def sql(node: NodeDir, statement: str) -> None:
    db = sqlite3.connect(node.db, timeout=10)
    with db:
        db.execute(statement)
    db.close()


def test_constraint_violation_quarantined_then_released(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 3, 61, net="127.0.17") as (n1, n2, n3):
        sql(n2, "CREATE UNIQUE INDEX items_v ON items (v)")  # n2's own constraint
        sql(n1, "INSERT INTO items (id, v) VALUES (1, 'same')")
        sql(n1, "INSERT INTO items (id, v) VALUES (2, 'same')")  # breaks n2's index
        sql(n1, "INSERT INTO items (id, v) VALUES (3, 'behind it')")
        # Everything else flows: n2 has 1 and 3, n3 (no such index) every row.
        wait_for(lambda: set(content(n2.db)) == {1, 3}, 30, "rows 1 and 3 on n2")
        wait_for(lambda: set(content(n3.db)) == {1, 2, 3}, 30, "every row on n3")
        held = status(n2)
        (q,) = held["quarantine"]
        assert q["table"] == "items" and q["key"] == "[2]" and q["origin"] == "n1"
        assert q["error"].startswith("constraint violation: UNIQUE constraint failed: items.v")
        assert held["alarms"]["readiness"]["ready"], held["alarms"]["readiness"]
        assert "unreachable" not in str(held)
        text = n2.cli("status").stdout
        assert "QUARANTINED: items key [2] from n1" in text and "UNIQUE constraint failed" in text

        sql(n2, "DROP INDEX items_v")  # the cause fixed: the next round writes the row
        wait_for(lambda: set(content(n2.db)) == {1, 2, 3}, 30, "row 2 released on n2")
        released = status(n2)
        assert released["quarantine"] == [] and released["counters"]["released"] == 1
        assert content(n1.db) == content(n2.db) == content(n3.db)
