"""Real members cut from each other by iptables: column merge and a mailed insert collision.

Two `clustersync run` processes on 127.0.19.11-12 (SMTP on 127.0.19.19) edit the same rows
while the network between them is cut (netcut.py), then the cut heals: edits of different
columns both survive everywhere (SPEC CL-15); two rows inserted under one INTEGER key are
mailed as "conflict" and listed by `clustersync conflicts` until acknowledged (CL-16).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.smtp import smtp_server

from .conftest import content
from .ha import Mailbox, http, running_cluster, status
from .netcut import NetCut, netcut
from .nodes import NodeDir, wait_for

__all__ = ["netcut"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow
SMTP = "127.0.19.19"


@pytest.fixture
def mail() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server(SMTP, Mailbox()) as (box, port):
        assert isinstance(box, Mailbox)
        yield box, port


def _sql(node: NodeDir, sql: str, rows: list[tuple[object, ...]]) -> None:
    db = sqlite3.connect(node.db, timeout=10)
    with db:
        db.executemany(sql, rows)
    db.close()


def _cut(cut: NetCut, a: NodeDir, b: NodeDir) -> None:
    """Two members alone in the test: cutting both off cuts them from each other."""
    for node in (a, b):
        cut.isolate(node.address, [node.port, node.data_port])


def _alone(node: NodeDir) -> bool:
    return bool(status(node)["alarms"]["activity"]["state"] == "red")


def _mail_to(node: NodeDir, port: int) -> None:
    with node.config.open("a") as file:
        file.write(
            "monitoring:\n  recipients: [ops@example.com]\n"
            f"  smtp: {{host: {SMTP}, port: {port}, security: none, sender: ha@example.com}}\n"
            "  retry_delay: 0.2\n"
        )


def test_edits_of_different_columns_made_apart_both_survive(tmp_path: Path, netcut: NetCut) -> None:
    with running_cluster(tmp_path, 2, 11, net="127.0.19") as (n1, n2):
        _sql(n1, "INSERT INTO items (id, v, n) VALUES (?, ?, ?)", [(i, f"v{i}", 0.0) for i in range(1, 21)])
        wait_for(lambda: len(content(n2.db)) == 20, 30, "the rows on n2")
        _cut(netcut, n1, n2)
        _sql(n1, "UPDATE items SET v = ? WHERE id = ?", [(f"n1-{i}", i) for i in range(1, 21)])
        _sql(n2, "UPDATE items SET n = ? WHERE id = ?", [(float(i), i) for i in range(1, 21)])
        wait_for(lambda: _alone(n1) and _alone(n2), 30, "n1 and n2 to see each other gone")
        netcut.heal()
        expected = {i: (i, f"n1-{i}", float(i), None) for i in range(1, 21)}
        wait_for(lambda: content(n1.db) == expected and content(n2.db) == expected, 60, "both edits on both")
        for node in (n1, n2):  # different columns: nothing was overwritten
            listed = json.loads(node.cli("conflicts", "--json").stdout)
            assert listed == [], listed


def test_integer_key_collision_mailed_and_listed_until_acknowledged(
    tmp_path: Path, netcut: NetCut, mail: tuple[Mailbox, int]
) -> None:
    box, port = mail
    with running_cluster(tmp_path, 2, 11, net="127.0.19") as (n1, n2):
        for node in (n1, n2):
            node.kill()
            _mail_to(node, port)
            node.start()
        _cut(netcut, n1, n2)
        _sql(n1, "INSERT INTO items (id, v) VALUES (?, ?)", [(100, "order of alice")])
        _sql(n2, "INSERT INTO items (id, v) VALUES (?, ?)", [(100, "order of bob")])
        wait_for(lambda: _alone(n1) and _alone(n2), 30, "n1 and n2 to see each other gone")
        netcut.heal()
        wait_for(lambda: content(n1.db) == content(n2.db) != {}, 60, "one row 100 on both")
        kept = content(n1.db)[100][1]
        lost = ({"order of alice", "order of bob"} - {kept}).pop()
        wait_for(lambda: bool(box.matching("clustersync: conflict")), 30, "the conflict mail")
        mailed = box.matching("clustersync: conflict")[0]
        node = n1 if mailed.startswith("[n1]") else n2
        assert "inserted under a key" in mailed
        entries = json.loads(node.cli("conflicts", "--json").stdout)
        assert [(e["kind"], e["key"]) for e in entries] == [("insert", "[100]")]
        assert json.loads(entries[0]["loser"])["v"] == lost and json.loads(entries[0]["winner"])["v"] == kept
        assert http(node, "/status")[1]["conflicts"] == {"insert": 1}
        text = node.cli("conflicts").stdout
        assert lost in text and kept in text and "insert collision" in text
        assert "1 conflict(s) acknowledged" in node.cli("conflicts", "ack", str(entries[0]["id"])).stdout
        assert json.loads(node.cli("conflicts", "--json").stdout) == []
        assert len(json.loads(node.cli("conflicts", "--all", "--json").stdout)) == 1
        wait_for(lambda: http(node, "/status")[1]["conflicts"] == {}, 30, "/status to show none waiting")
