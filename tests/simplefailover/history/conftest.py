"""A real `simplefailover run` with its history, on this part's test addresses 127.0.24.x."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simplefailover.config import load_config
from simplefailover.demo import DemoNode
from simplefailover.demo.procs import Child, free_port, wait_until
from tests.support.cli import simplefailover as cli

HOST = "127.0.24.10"  # DNS and dashboard
NODES = {"node1": "127.0.24.11", "node2": "127.0.24.12"}

CONFIG = """
zone: {{name: example.test, ttl: 30}}
nodes:
  - {{id: node1, address: {a}, priority: 10}}
  - {{id: node2, address: {b}, priority: 5}}
pollings:
  - {{id: web, method: http, url: "http://{{address}}:{http}/fw/login", expect_body: Login, timeout: 1}}
  - {{id: sip, method: telnet, port: {tcp}, expect: ready, timeout: 1}}
hostnames:
  - {{name: www, polling: web}}
  - {{name: voice, polling: sip}}
schedule: {{interval: 0.5, retry_interval: 0.2, fall: 2, rise: 1, jitter: 0}}
dns: {{listen: ["{host}:{dns}"]}}
dashboard: {{listen: "{host}:{dashboard}", refresh: 1}}
monitoring: {{notifications: {mail}, recipients: [ops@example.test], retry_delay: 0.2,
  smtp: {{host: {host}, port: {smtp}, security: none}}}}
history: {{state_dir: {state}, flush_interval: 0.2}}
service: {{watch_config: 0, pid_file: {state}/sf.pid}}
"""


@dataclass
class Service:
    """A `simplefailover run` process with its config, demo nodes and dashboard port."""

    path: Path
    child: Child
    nodes: dict[str, DemoNode]
    dashboard: int

    def start(self) -> None:
        self.child.start()
        wait_until(lambda: self.get("/healthz")[0] == 200, 30, "the service to be ready", self.child)

    def stop(self) -> None:
        if self.child.proc is not None and self.child.proc.poll() is None:
            self.child.proc.terminate()
            self.child.proc.wait(20)

    def get(self, path: str) -> tuple[int, str]:
        """GET from the dashboard; (0, error) while it does not answer."""
        conn = http.client.HTTPConnection(HOST, self.dashboard, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": f"localhost:{self.dashboard}"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        except OSError as exc:
            return 0, str(exc)
        finally:
            conn.close()

    def events(self, *args: str) -> list[dict[str, Any]]:
        """`simplefailover events --json` (a separate process, as an administrator runs it)."""
        done = cli("events", "-c", str(self.path), "--json", *args)
        assert done.returncode == 0, done.stderr
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found


def write_config(
    folder: Path, smtp: int = 0, host: str = HOST, nodes: tuple[str, str] = tuple(NODES.values())
) -> tuple[Path, dict[str, Any]]:
    """The service's config with free ports; (its path, the values filled in)."""
    hosts = [host, *nodes]
    taken: set[int] = set()
    http_port = free_port(list(nodes), taken=taken)
    tcp_port = free_port(list(nodes), taken=taken)
    values = {
        "http": http_port,
        "tcp": tcp_port,
        "dns": free_port([host], udp=True, taken=taken),
        "dashboard": free_port(hosts, taken=taken),
        "host": host,
        "smtp": smtp or 25,
        "mail": "true" if smtp else "false",
        "state": folder / "state",
        "a": nodes[0],
        "b": nodes[1],
    }
    path = folder / "config.yaml"
    path.write_text(CONFIG.format(**values))
    return path, values


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    from tests.support.smtp import smtp_server

    with smtp_server(HOST) as (_, smtp):
        path, ports = write_config(tmp_path, smtp)
        config = load_config(path)
        nodes = {n.id: DemoNode(n, ports["http"], [ports["tcp"]]) for n in config.nodes}
        for node in nodes.values():
            node.start()
        argv = ["-m", "simplefailover", "run", "-c", str(path)]
        child = Child("simplefailover", argv, tmp_path / "run.log", tmp_path)
        running = Service(path, child, nodes, ports["dashboard"])
        try:
            yield running
        finally:
            running.stop()
            for node in nodes.values():
                node.stop()
