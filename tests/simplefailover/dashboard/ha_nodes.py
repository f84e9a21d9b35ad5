"""Nodes for the High Availability page tests: config, database and ports on 127.0.0.150-159."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from habase.ports import free_port
from simplefailover.dashboard.login import admin_file_text
from tests.clustersync.conftest import make_db

ADDRESSES = tuple(f"127.0.0.{n}" for n in range(150, 160))

BASE = """zone: {{name: ha.example.test}}
nodes: [{{id: app1, address: {address}}}]
pollings: [{{id: p1, method: tcp, port: 9, timeout: 1}}]
hostnames: [{{name: h, polling: p1}}]
schedule: {{interval: 30}}
dns: {{listen: ["{address}:0"]}}
dashboard: {{listen: "{address}:{dashboard_port}", refresh: 1, admin_password_file: "{admin}"}}
monitoring: {{notifications: false}}
"""
ADMIN_PASSWORD = "correct horse battery staple"
ADMIN_TOKEN = "test-api-token"

CLUSTER = """cluster:
  node_id: {node_id}
  address: "{address}"
  port: {port}
  data_port: {data_port}
  secret_file: ../cluster.secret
  database: app.db
  tables: {{replicated: [items, pairs]}}
  state_dir: state
  sync_interval: 0.3
  retry_interval: 2
  timeout: 1
"""


def free_ports(host: str, count: int) -> list[int]:
    """Distinct ports nothing listens on at host, outside the ephemeral range (habase.ports)."""
    return [free_port([host]) for _ in range(count)]


@dataclass
class HaNode:
    """One node's folder: config.yaml (with or without a cluster section) and its database."""

    node_id: str
    address: str
    folder: Path
    port: int
    data_port: int
    dashboard_port: int = 0

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def admin_file(self) -> Path:
        return self.folder / "admin.password"

    @property
    def db(self) -> Path:
        return self.folder / "app.db"

    @property
    def peer(self) -> str:
        return f"{self.address}:{self.port}"

    def config_text(self, cluster: bool = True) -> str:
        text = BASE.format(address=self.address, dashboard_port=self.dashboard_port, admin=self.admin_file)
        if cluster:
            text += CLUSTER.format(
                node_id=self.node_id, address=self.address, port=self.port, data_port=self.data_port
            )
        return text


def make_node(tmp_path: Path, index: int, cluster: bool = True) -> HaNode:
    """Node n<index> on 127.0.0.<149+index> with an application database and its config written."""
    address = ADDRESSES[index - 1]
    port, data_port, dashboard_port = free_ports(address, 3)
    node = HaNode(f"n{index}", address, tmp_path / f"n{index}", port, data_port, dashboard_port)
    node.folder.mkdir(parents=True, exist_ok=True)
    make_db(node.db)
    node.admin_file.write_text(admin_file_text(ADMIN_PASSWORD, ADMIN_TOKEN))
    node.config.write_text(node.config_text(cluster))
    return node


TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def log_in(client: Any, password: str = ADMIN_PASSWORD) -> Any:
    """Log a Flask test client in as the administrator; the client."""
    token = form_token(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"csrf_token": token, "password": password})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return client


def log_in_page(page: Any, url: str, password: str = ADMIN_PASSWORD) -> None:
    """Log a browser page in as the administrator (url: the dashboard's, ending with /)."""
    page.goto(url + "login")
    page.fill("input[name=password]", password)
    page.click("#login button[type=submit]")
    page.wait_for_url(url)  # the session cookie is set once the redirect to the dashboard is done
    assert page.locator("#logout").count() == 1, "not logged in"


def form_token(html: str) -> str:
    """The CSRF token of the page's forms."""
    found = TOKEN.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Processes:
    """Real `simplefailover run` and `clustersync run` processes of the test, stopped at the end."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, node: HaNode, *command: str) -> subprocess.Popen[bytes]:
        """Start python -m COMMAND... -c the node's config, logging to the node's folder."""
        log = (node.folder / f"{command[0]}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", *command, "-c", str(node.config)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def log_tail(node: HaNode, name: str, lines: int = 30) -> str:
    """The end of a process log of the node, for failure messages."""
    path = node.folder / f"{name}.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
