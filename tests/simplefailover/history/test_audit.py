"""The audit trail: who did what, from where, why; kept across restarts (SPEC SF-6, SF-11)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask.testing import FlaskClient

from simplefailover.config import load_config
from simplefailover.daemon import Daemon
from simplefailover.dashboard import create_app
from simplefailover.dashboard.server import DashboardService
from simplefailover.engine import Engine
from simplefailover.history import HistoryService
from simplefailover.metrics import Metrics
from tests.simplefailover.dashboard.ha_nodes import form_token, log_in, make_node
from tests.support.bind import wait_until
from tests.support.cli import simplefailover as cli

CONFIG = """
zone: {{name: example.test}}
nodes:
  - {{id: node1, address: 127.0.24.41, priority: 10}}
  - {{id: node2, address: 127.0.24.42, priority: 5}}
pollings: [{{id: web, method: tcp, port: 9, timeout: 0.5}}]
hostnames: [{{name: www, polling: web}}]
schedule: {{interval: 0.5, retry_interval: 0.2}}
dns: {{listen: ["127.0.24.40:0"]}}
dashboard: {{listen: "127.0.24.40:0"}}
monitoring: {{notifications: false}}
history: {{state_dir: {state}, flush_interval: 0.1}}
service: {{watch_config: 0}}
"""


def dashboard(daemon: Daemon) -> FlaskClient:
    [service] = [s for s in daemon.services if isinstance(s, DashboardService)]
    return service.app.test_client()


def test_an_audit_entry_names_its_author_and_outlives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(state=tmp_path / "state"))
    first = Daemon(path)
    first.start()
    try:
        assert first.history is not None
        first.history.audit("maintenance", "alice", "127.0.24.99", "kernel update", node="node1", new="on")
        assert first.history.wait_written()
    finally:
        first.stop()

    listed = cli("events", "-c", str(path), "--kind", "audit", "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert (entry["who"], entry["from"], entry["reason"]) == ("alice", "127.0.24.99", "kernel update")
    assert (entry["node"], entry["new"], entry["data"]["action"]) == ("node1", "on", "maintenance")
    text = cli("events", "-c", str(path), "--kind", "audit").stdout
    assert "maintenance: kernel update [by alice from 127.0.24.99]" in text

    second = Daemon(path)
    second.start()
    try:
        assert second.history is not None
        client = dashboard(second)

        def row(page: str, node: str) -> str:
            found = re.search(rf'<tr data-node="{node}" data-polling="web">(.*?)</tr>', page, re.S)
            assert found is not None
            return found.group(1)

        def drawn() -> str:
            page = client.get("/history?window=hour").get_data(as_text=True)
            first = 'class="ko"' in row(page, "node2") and 'class="maint"' in row(page, "node1")
            return page if first else ""

        # Still in maintenance after the restart: node1's checks are drawn MAINT, node2's KO.
        wait_until(drawn, 15, "both first checks to be drawn")
        page = drawn()
        assert 'class="ko"' not in row(page, "node1")
        assert "alice (127.0.24.99)" in page
    finally:
        second.stop()


def test_ha_page_actions_are_in_the_audit_trail(tmp_path: Path) -> None:
    node = make_node(tmp_path, 1)
    config = load_config(node.config)
    history = HistoryService(config, tmp_path / "history.db")
    history.start()
    try:
        client = log_in(
            create_app(Engine(config), Metrics(), {"TESTING": True}, history=history).test_client()
        )
        token = form_token(client.get("/ha").get_data(as_text=True))
        form = {"csrf_token": token, "address": node.address, "strategy": "replicated"}
        assert client.post("/ha/create", data=form).status_code == 303

        def outcomes() -> list[str]:
            history.wait_written()
            found = client.get("/api/history?kind=audit").get_json()
            return [e["new"] for e in found]

        wait_until(lambda: outcomes() == ["asked", "done"], 30, "the action's two audit entries")
        asked, done = client.get("/api/history?kind=audit").get_json()
        assert asked["data"]["action"] == "ha create" and asked["reason"] == "creating the cluster"
        assert (asked["who"], asked["from"]) == ("dashboard", "127.0.0.1")
        assert "cluster created on n1" in done["reason"]
    finally:
        history.stop()
