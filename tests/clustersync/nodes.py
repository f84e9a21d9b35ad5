"""Test members: a config file, a database and free ports per node on 127.0.0.6x.

Tests use 127.0.0.60 to 127.0.0.79 (not the issue's 127.0.0.11-14, which the demo nodes of
other test suites use at the same time) and free ports found by binding port 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.bind import free_port
from tests.support.bind import wait_until as wait_for  # the name these tests use

from .conftest import make_db

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class NodeDir:
    """One member's files: config, database, state."""

    node_id: str
    address: str
    folder: Path
    port: int = 0
    data_port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def db(self) -> Path:
        return self.folder / "app.db"

    @property
    def peer(self) -> str:
        return f"{self.address}:{self.port}"

    def write_config(self, **extra: object) -> None:
        """Write the node's config.yaml (extra: more cluster keys)."""
        keys: dict[str, object] = {
            "node_id": self.node_id, "address": self.address, "port": self.port,
            "data_port": self.data_port, "secret_file": "../cluster.secret", "database": "app.db",
            "tables": "{replicated: [items, pairs]}", "state_dir": "state", "sync_interval": 0.5,
            "retry_interval": 3, "timeout": 1,
        }  # fmt: skip
        keys.update(extra)
        lines = [
            "zone: {name: example.com}",
            "nodes: [{id: n1, address: 127.0.0.1}]",
            "pollings: [{id: p1, method: tcp, port: 9}]",
            "hostnames: [{name: h, polling: p1}]",
            "cluster:",
        ]
        lines += [
            f'  {key}: "{value}"' if key == "address" else f"  {key}: {value}" for key, value in keys.items()
        ]
        self.config.write_text("\n".join(lines) + "\n")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a clustersync command for this node in a subprocess."""
        return subprocess.run(
            [sys.executable, "-m", "clustersync", *args, "-c", str(self.config)],
            capture_output=True, text=True, cwd=ROOT, timeout=60, check=check,
        )  # fmt: skip

    def start(self) -> None:
        """Start `clustersync run` for this node."""
        log = (self.folder / "run.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clustersync", "run", "-c", str(self.config)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        log.close()
        wait_for(lambda: _listening(self.address, self.data_port), 20, f"{self.node_id} listening")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the run process, if any, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, sig)
            self.proc.wait(10)
        self.proc = None


def make_nodes(tmp_path: Path, addresses: list[str]) -> list[NodeDir]:
    """Folders, configs and databases for nodes n1.. on these addresses."""
    nodes = []
    for i, address in enumerate(addresses, start=1):
        node = NodeDir(f"n{i}", address, tmp_path / f"n{i}", free_port(address), free_port(address))
        node.folder.mkdir(parents=True)
        make_db(node.db)
        node.write_config()
        nodes.append(node)
    return nodes


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False
