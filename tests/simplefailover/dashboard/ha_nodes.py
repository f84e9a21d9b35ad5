"""Nodes for the High Availability page tests: config, database and ports on 127.0.0.150-159."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from tests.clustersync.conftest import make_db

ADDRESSES = tuple(f"127.0.0.{n}" for n in range(150, 160))

BASE = """zone: {{name: ha.example.test}}
nodes: [{{id: app1, address: {address}}}]
pollings: [{{id: p1, method: tcp, port: 9, timeout: 1}}]
hostnames: [{{name: h, polling: p1}}]
schedule: {{interval: 30}}
dns: {{listen: ["{address}:0"]}}
dashboard: {{listen: "{address}:0", refresh: 1}}
monitoring: {{notifications: false}}
"""

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


def free_port(host: str) -> int:
    """A port nothing listens on at host right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class HaNode:
    """One node's folder: config.yaml (with or without a cluster section) and its database."""

    node_id: str
    address: str
    folder: Path
    port: int
    data_port: int

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def db(self) -> Path:
        return self.folder / "app.db"

    @property
    def peer(self) -> str:
        return f"{self.address}:{self.port}"

    def config_text(self, cluster: bool = True) -> str:
        text = BASE.format(address=self.address)
        if cluster:
            text += CLUSTER.format(
                node_id=self.node_id, address=self.address, port=self.port, data_port=self.data_port
            )
        return text


def make_node(tmp_path: Path, index: int, cluster: bool = True) -> HaNode:
    """Node n<index> on 127.0.0.<149+index> with an application database and its config written."""
    address = ADDRESSES[index - 1]
    node = HaNode(f"n{index}", address, tmp_path / f"n{index}", free_port(address), free_port(address))
    node.folder.mkdir(parents=True, exist_ok=True)
    make_db(node.db)
    node.config.write_text(node.config_text(cluster))
    return node


TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def form_token(html: str) -> str:
    """The CSRF token of the page's forms."""
    found = TOKEN.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)
