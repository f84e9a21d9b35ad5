"""A small real cluster for end-to-end mail and reload tests: demo HTTP nodes and a config file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from simplefailover.config import Node
from simplefailover.daemon import Daemon
from simplefailover.demo import DemoNode
from simplefailover.demo.procs import free_port as free_common_port
from simplefailover.notify import AlertService
from simplefailover.state import Status
from tests.support.bind import wait_until

NODE_ADDRESSES = {"n1": "127.0.0.51", "n2": "127.0.0.52"}
DNS_HOST = "127.0.0.53"
ZONE = "example.test"
INSTANCE = "watcher1"


def config_text(
    smtp_port: int,
    http_port: int,
    *,
    recipients: tuple[str, ...] = ("ops@example.com",),
    n2_priority: int = 5,
    storm_threshold: int = 100,
    storm_window: float = 60,
    dns_port: int = 0,
    pid_file: Path | None = None,
    extra_hostname: str | None = None,
    smtp_timeout: float = 2,
) -> str:
    rcpts = ", ".join(recipients)
    return f"""
zone: {{name: {ZONE}, nameservers: [{{name: ns1.{ZONE}, address: {DNS_HOST}}}]}}
nodes:
  - {{id: n1, address: {NODE_ADDRESSES["n1"]}, priority: 10}}
  - {{id: n2, address: {NODE_ADDRESSES["n2"]}, priority: {n2_priority}}}
pollings:
  - {{id: web, method: http, url: "http://{{address}}:{http_port}/fw/login", expect_body: Login, timeout: 1}}
hostnames:
  - {{name: www, polling: web}}
{f"  - {{name: {extra_hostname}, polling: web}}" if extra_hostname else ""}
schedule: {{interval: 0.3, retry_interval: 0.2, fall: 1, rise: 1, jitter: 0}}
dns: {{listen: ["{DNS_HOST}:{dns_port}"]}}
dashboard: {{enabled: false}}
monitoring:
  recipients: [{rcpts}]
  smtp: {{host: 127.0.0.50, port: {smtp_port}, security: none, sender: ha@example.com,
         timeout: {smtp_timeout}}}
  storm_threshold: {storm_threshold}
  storm_window: {storm_window}
  retry_delay: 0.2
  retry_max_delay: 0.5
  retries: 1000
cluster: {{node_id: {INSTANCE}}}
{f"service: {{pid_file: {pid_file}}}" if pid_file else ""}
"""


class Nodes:
    """The two demo nodes, started; stop and start them to script failures."""

    def __init__(self, http_port: int) -> None:
        self.by_id = {
            ident: DemoNode(Node(id=ident, address=address), http_port, [])  # type: ignore[arg-type]
            for ident, address in NODE_ADDRESSES.items()
        }

    def start(self, ident: str | None = None) -> None:
        for node in [self.by_id[ident]] if ident else self.by_id.values():
            node.start()

    def stop(self, ident: str | None = None) -> None:
        for node in [self.by_id[ident]] if ident else self.by_id.values():
            node.stop()


@contextmanager
def running_nodes() -> Iterator[tuple[Nodes, int]]:
    http_port = free_common_port(list(NODE_ADDRESSES.values()))
    nodes = Nodes(http_port)
    nodes.start()
    try:
        yield nodes, http_port
    finally:
        nodes.stop()


@contextmanager
def running_daemon(path: Path) -> Iterator[Daemon]:
    daemon = Daemon(path)
    daemon.start()
    try:
        wait_until(daemon.engine.ready.is_set, 10, "the first round of polls")
        yield daemon
    finally:
        daemon.stop()


def alerts_of(daemon: Daemon) -> AlertService:
    return next(s for s in daemon.services if isinstance(s, AlertService))


def wait_status(daemon: Daemon, node: str, status: Status, timeout: float = 10, polling: str = "web") -> None:
    def reached() -> bool:
        state = daemon.engine.check_state(node, polling)
        return state is not None and state.status is status

    wait_until(reached, timeout, f"{node}/{polling} to be {status.value}")
