"""Three real `simplefailover run` processes agreeing on three demo nodes, for tests and the bench.

Instances on 127.0.0.90-92 (DNS, dashboard and peer port each), demo nodes on
127.0.0.93-95. Everything is loopback; every process is stopped by `Cluster.stop`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import requests

from simplefailover.config import Node
from simplefailover.demo import DemoNode
from tests.support.bind import free_port

INSTANCES = ("a", "b", "c")
INSTANCE_HOSTS = ("127.0.0.90", "127.0.0.91", "127.0.0.92")
NODE_HOSTS = ("127.0.0.93", "127.0.0.94", "127.0.0.95")
ZONE = "agree.test"
FQDN = f"ias.{ZONE}"


def wait_for(what: str, condition: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    """Poll condition until it returns something true; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, requests.RequestException, dns.exception.DNSException):
            last = condition()
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@dataclass
class Instance:
    member: str
    host: str
    dns_port: int
    web_port: int
    peer_port: int
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def status(self) -> dict[str, Any]:
        """The instance's /api/status document."""
        url = f"http://{self.host}:{self.web_port}/api/status"
        response = requests.get(url, timeout=2)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def answer(self, name: str = FQDN) -> tuple[tuple[str, ...], int]:
        """(A addresses, SOA serial) as this instance's DNS responder serves them."""
        reply = dns.query.udp(dns.message.make_query(name, "A"), self.host, port=self.dns_port, timeout=1)
        addresses = tuple(sorted(str(r) for rrset in reply.answer for r in rrset))
        soa = dns.query.udp(dns.message.make_query(ZONE, "SOA"), self.host, port=self.dns_port, timeout=1)
        return addresses, int(soa.answer[0][0].serial)

    def metric(self, name: str) -> float | None:
        """One unlabelled metric from /metrics."""
        text = requests.get(f"http://{self.host}:{self.web_port}/metrics", timeout=2).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


@dataclass
class Cluster:
    base: Path
    interval: float = 1.0
    retry_interval: float = 0.5
    heartbeat: float = 0.5
    stale_after: float = 2.0
    fall: int = 2
    rise: int = 2
    smtp_port: int | None = None
    faults: dict[str, list[str]] = field(default_factory=dict)  # instance -> node ids it sees fail
    drop: set[str] = field(default_factory=set)  # instances whose peer traffic is dropped
    solo: bool = False  # also run an instance with no peers, to compare with (the bench)
    instances: list[Instance] = field(default_factory=list)
    nodes: list[DemoNode] = field(default_factory=list)
    alone: Instance | None = None
    instance_hosts: tuple[str, ...] = INSTANCE_HOSTS  # another test's own loopback range
    node_hosts: tuple[str, ...] = NODE_HOSTS
    dashboard_extra: str = ""  # more keys of the dashboard section, each after ", "
    extra: str = ""  # more config, the same for every instance (a path may use {member})

    def __post_init__(self) -> None:
        self.secret = self.base / "cluster.secret"
        self.secret.write_text(secrets.token_hex(32))
        self.http_port = free_port(self.node_hosts[0])
        for i, host in enumerate(self.node_hosts):
            self.nodes.append(
                DemoNode(Node(id=f"n{i + 1}", address=host, priority=30 - 10 * i), self.http_port, [])
            )
        for member, host in zip(INSTANCES, self.instance_hosts, strict=True):
            folder = self.base / member
            folder.mkdir()
            self.instances.append(
                Instance(
                    member,
                    host,
                    free_port(host),
                    free_port(host),
                    free_port(host),
                    folder / "config.yaml",
                    folder / "log.txt",
                )
            )
        if self.solo:
            folder = self.base / "solo"
            folder.mkdir()
            host = self.instance_hosts[0]
            self.alone = Instance(
                "solo", host, free_port(host), free_port(host), 0, folder / "config.yaml", folder / "log.txt"
            )
        for instance in self.everyone:
            self.write_config(instance)

    @property
    def everyone(self) -> list[Instance]:
        """The agreeing instances, then the one alone if any."""
        return [*self.instances, *([self.alone] if self.alone else [])]

    def config_text(self, instance: Instance) -> str:
        nodes = "\n".join(
            f"  - {{id: {n.node.id}, address: {n.node.address}, priority: {n.node.priority}}}"
            for n in self.nodes
        )
        smtp = (
            f"  smtp: {{host: {self.instance_hosts[0]}, port: {self.smtp_port}, security: none,"
            f" sender: ha@{ZONE}}}\n"
            "  retry_delay: 0.2\n"
            if self.smtp_port
            else ""
        )
        return f"""zone:
  name: {ZONE}
  nameservers: [{{name: ns1.{ZONE}, address: {self.instance_hosts[0]}}}]
nodes:
{nodes}
pollings:
  - {{id: poll1, method: http, url: "http://{{address}}:{self.http_port}/fw/login",
     expect_body: Login, timeout: 1}}
hostnames:
  - {{name: ias, polling: poll1}}
schedule: {{interval: {self.interval}, retry_interval: {self.retry_interval},
           fall: {self.fall}, rise: {self.rise}}}
dns: {{listen: ["{instance.host}:{instance.dns_port}"]}}
dashboard: {{listen: "{instance.host}:{instance.web_port}"{self.dashboard_extra}}}
monitoring:
  notifications: {"true" if self.smtp_port else "false"}
  recipients: [ops@{ZONE}]
{smtp}{self.peers_text(instance) if instance is not self.alone else ""}{self.extra_text(instance)}"""

    def extra_text(self, instance: Instance) -> str:
        return self.extra.replace("{member}", instance.member)

    def peers_text(self, instance: Instance) -> str:
        members = "\n".join(
            f"    - {{id: {i.member}, address: '{i.host}:{i.peer_port}'}}" for i in self.instances
        )
        return f"""peers:
  id: {instance.member}
  listen: "{instance.host}:{instance.peer_port}"
  secret_file: {self.secret}
  heartbeat: {self.heartbeat}
  stale_after: {self.stale_after}
  test_fault_nodes: {self.faults.get(instance.member, [])}
  test_drop_traffic: {"true" if instance.member in self.drop else "false"}
  members:
{members}
"""

    def write_config(self, instance: Instance) -> None:
        instance.config_path.write_text(self.config_text(instance))

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        self.start_instances()

    def start_instances(self) -> None:
        """Start every instance's process and wait until each answers."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for instance in self.everyone:
            with instance.log_path.open("wb") as log:
                instance.process = subprocess.Popen(
                    [sys.executable, "-m", "simplefailover", "run", "-c", str(instance.config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
        for instance in self.everyone:
            wait_for(f"{instance.member} ready", lambda i=instance: i.status()["ready"] and i.answer()[0], 30)

    def reload(self, instance: Instance) -> None:
        """Rewrite an instance's config and SIGHUP it."""
        self.write_config(instance)
        assert instance.process is not None
        instance.process.send_signal(signal.SIGHUP)

    def answers(self) -> list[tuple[tuple[str, ...], int]]:
        """Every instance's (addresses, serial) from DNS."""
        return [i.answer() for i in self.instances]

    def stop(self) -> None:
        self.stop_instances()
        for node in self.nodes:
            node.stop()

    def stop_instances(self) -> None:
        """Stop every instance's process (SIGTERM, then SIGKILL after 10 s)."""
        for instance in self.everyone:
            if instance.process is not None and instance.process.poll() is None:
                instance.process.terminate()
        for instance in self.everyone:
            if instance.process is not None:
                try:
                    instance.process.wait(10)
                except subprocess.TimeoutExpired:
                    instance.process.kill()
                    instance.process.wait(5)

    def logs(self) -> str:
        """Every instance's log, for a failing test's report."""
        return "\n".join(
            f"----- {i.member}\n{i.log_path.read_text(errors='replace')[-4000:]}" for i in self.everyone
        )


@contextlib.contextmanager
def running(group: Cluster) -> Iterator[Cluster]:
    """Start the group and stop it whatever happens; its logs printed if anything fails."""
    try:
        group.start()
        yield group
    except BaseException:
        print(group.logs())
        raise
    finally:
        group.stop()
