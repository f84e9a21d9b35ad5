"""Helpers of the failover/remove/version tests: a real SMTP server, HTTP health reads, clusters.

These tests use 127.0.0.100 to 127.0.0.119 (SMTP on .119).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.smtp import Inbox, smtp_server

from .nodes import NodeDir, make_nodes, wait_for

SMTP_HOST = "127.0.0.119"


class Mailbox(Inbox):
    """The shared test inbox, plus the clustersync event kinds each node mailed."""

    def kinds(self, node: str, since: int = 0) -> list[str]:
        """The event kinds a node mailed, in order: "[n1] clustersync: failover: ..." -> "failover"."""
        return [s.split("clustersync: ", 1)[1].split(":")[0] for s in self.subjects(node)[since:]]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback: (its mailbox, its port)."""
    with smtp_server(SMTP_HOST, Mailbox()) as (box, port):
        assert isinstance(box, Mailbox)
        yield box, port


def configure(node: NodeDir, smtp_port: int | None = None, **cluster: object) -> None:
    """Fast intervals, and mail to a local SMTP server when given."""
    keys: dict[str, object] = {"sync_interval": 0.2, "retry_interval": 1, "timeout": 0.5}
    node.write_config(**(keys | cluster))
    if smtp_port is not None:
        with node.config.open("a") as file:
            file.write(
                "monitoring:\n  recipients: [ops@example.com]\n"
                f"  smtp: {{host: {SMTP_HOST}, port: {smtp_port}, security: none, sender: ha@example.com}}\n"
                "  retry_delay: 0.2\n"
            )


@contextmanager
def running_cluster(
    tmp_path: Path,
    count: int,
    first: int,
    smtp_port: int | None = None,
    net: str = "127.0.0",
    **cluster: object,
) -> Iterator[list[NodeDir]]:
    """count members on <net>.<first>.., created and joined through n1, each running; killed after."""
    nodes = make_nodes(tmp_path, [f"{net}.{first + i}" for i in range(count)])
    try:
        for node in nodes:
            configure(node, smtp_port, **cluster)
        nodes[0].cli("create")
        nodes[0].start()
        for node in nodes[1:]:
            joined = node.cli("join", "--peer", nodes[0].peer, check=False)
            assert joined.returncode == 0, joined.stderr
            node.start()
        names = {n.node_id for n in nodes}
        wait_for(lambda: all(members(n) == names for n in nodes), 30, "every member to know every other")
        yield nodes
    finally:
        for node in nodes:
            node.kill()


def write_items(node: NodeDir, start: int, count: int) -> None:
    """Rows start.. of the replicated items table, written by the node's application."""
    db = sqlite3.connect(node.db, timeout=10)
    with db:
        for i in range(start, start + count):
            db.execute("INSERT OR REPLACE INTO items (id, v) VALUES (?, ?)", (i, f"{node.node_id}-{i}"))
    db.close()


def members(node: NodeDir) -> set[str]:
    db = sqlite3.connect(node.db, timeout=10)
    try:
        return {row[0] for row in db.execute("SELECT node_id FROM _cs_members")}
    finally:
        db.close()


def http(node: NodeDir, path: str) -> tuple[int, Any]:
    """GET a health endpoint on the node's control port: (status code, JSON or text)."""
    response = requests.get(f"http://{node.address}:{node.port}{path}", timeout=5)
    ctype = response.headers.get("Content-Type", "")
    return response.status_code, response.json() if ctype.startswith("application/json") else response.text


def activity(node: NodeDir) -> str:
    return str(http(node, "/status")[1]["activity"]["state"])


def status(node: NodeDir) -> dict[str, Any]:
    """`clustersync status --json`, parsed."""
    return dict(json.loads(node.cli("status", "--json").stdout))


def metric(node: NodeDir, name: str) -> float:
    """The sum of one metric's samples in /metrics."""
    text = http(node, "/metrics")[1]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))
