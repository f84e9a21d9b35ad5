"""The production ports, as documented, in a network namespace of the test's own.

`simplefailover run` with the defaults -- DNS on port 53 of every address (IPv4 and IPv6,
UDP and TCP), the dashboard on 127.0.0.1:81, peer messages on UDP 52710 -- and `clustersync
run` on 52700/52701. The namespace (sf16-ports-*) has loopback and a veth pair in
198.18.16.0/24 so "every address" means more than loopback; the fixture deletes it, also
when the test fails. Without the right to bind ports below 1024 the service stops at once
and says how to fix it; a port already taken is named with the key to change.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bind import wait_until
from tests.support.procs import stop_process

pytestmark = pytest.mark.slow

IP = shutil.which("ip")
DIG = shutil.which("dig")
SETPRIV = shutil.which("setpriv")
OUTER = "198.18.16.1"


class Namespace:
    """A network namespace with loopback up and a veth pair; processes started in it are ended with it."""

    def __init__(self) -> None:
        self.name = f"sf16-ports-{secrets.token_hex(3)}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def ip(self, *args: str) -> None:
        subprocess.run([str(IP), "-n", self.name, *args], check=True, capture_output=True, timeout=30)

    def create(self) -> None:
        subprocess.run([str(IP), "netns", "add", self.name], check=True, capture_output=True, timeout=30)
        self.ip("link", "set", "lo", "up")
        self.ip("link", "add", "sf16a", "type", "veth", "peer", "name", "sf16b")
        self.ip("addr", "add", f"{OUTER}/24", "dev", "sf16a")
        self.ip("link", "set", "sf16a", "up")
        self.ip("link", "set", "sf16b", "up")

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(IP), "netns", "exec", self.name, *args], capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def start(self, log: Path, *args: str) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:  # `ip netns exec` execs the command: the pid is the service's
            proc = subprocess.Popen(
                [str(IP), "netns", "exec", self.name, *args], stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def delete(self) -> None:
        for proc in self.procs:
            stop_process(proc)
        subprocess.run([str(IP), "netns", "delete", self.name], capture_output=True, timeout=30, check=False)


@pytest.fixture
def netns() -> Iterator[Namespace]:
    if IP is None or DIG is None or SETPRIV is None or os.geteuid() != 0:
        pytest.skip("needs root, ip, dig and setpriv (make system-deps)")
    namespace = Namespace()
    try:
        namespace.create()
        yield namespace
    finally:
        namespace.delete()
    listed = subprocess.run([str(IP), "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert namespace.name not in listed


def config_text(root: Path, extra: str = "") -> str:
    """Production defaults: no dns:, dashboard: or ports anywhere but the polling of clustersync's port."""
    return f"""
zone: {{name: ports.example.test, nameservers: [{{name: ns1.ports.example.test, address: {OUTER}}}]}}
nodes: [{{id: n1, address: 127.0.0.1}}]
pollings: [{{id: sync, method: tcp, port: 52700, timeout: 1}}]
hostnames: [{{name: www, polling: sync}}]
schedule: {{interval: 0.5, retry_interval: 0.3, fall: 1, rise: 1, jitter: 0}}
monitoring: {{notifications: false}}
cluster:
  node_id: n1
  address: "127.0.0.1"
  database: {root / "app.db"}
  secret_file: {root / "cluster.secret"}
  state_dir: {root / "state"}
  tables: {{replicated: [items]}}
peers:
  members: [{{id: n1, address: "127.0.0.1:52710"}}, {{id: n2, address: "198.18.16.2:52710"}}]
  isolation: publish_own
  heartbeat: 0.5
  stale_after: 2
service: {{pid_file: {root / "sf.pid"}, watch_config: 0}}
{extra}
"""


def dig(ns: Namespace, server: str, *flags: str) -> list[str]:
    done = ns.run(str(DIG), "+short", "+time=1", "+tries=1", *flags, f"@{server}", "www.ports.example.test")
    return done.stdout.split()


def test_default_production_ports_in_a_namespace(netns: Namespace, tmp_path: Path) -> None:
    python = sys.executable
    path = tmp_path / "config.yaml"
    path.write_text(config_text(tmp_path))
    with sqlite3.connect(tmp_path / "app.db") as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)")
    assert netns.run(python, "-m", "clustersync", "create", "-c", str(path)).returncode == 0

    # Without the right to bind ports below 1024 (root without CAP_NET_BIND_SERVICE): the fix is said.
    no_right = (str(SETPRIV), "--bounding-set", "-net_bind_service", "--inh-caps", "-net_bind_service")
    refused = netns.run(*no_right, python, "-m", "simplefailover", "run", "-c", str(path))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "DNS cannot listen on 0.0.0.0:53/udp: permission denied" in refused.stderr
    assert "simplefailover install-service" in refused.stderr and "dns.listen" in refused.stderr
    assert "Traceback" not in refused.stderr
    dashboard_only = tmp_path / "dashboard-only.yaml"
    dashboard_only.write_text(config_text(tmp_path, 'dns: {listen: ["127.0.0.1:5353"]}'))
    refused = netns.run(*no_right, python, "-m", "simplefailover", "run", "-c", str(dashboard_only))
    assert refused.returncode == 2
    assert "dashboard.listen 127.0.0.1:81: cannot listen: permission denied" in refused.stderr

    sync = netns.start(tmp_path / "clustersync.log", python, "-m", "clustersync", "run", "-c", str(path))
    failover = netns.start(
        tmp_path / "simplefailover.log", python, "-m", "simplefailover", "run", "-c", str(path)
    )
    wait_until(lambda: dig(netns, "127.0.0.1") == ["127.0.0.1"], 60, "www answered on 127.0.0.1:53")
    assert dig(netns, OUTER) == ["127.0.0.1"]  # every address: the veth's too
    assert dig(netns, "::1") == ["127.0.0.1"]  # and IPv6
    assert dig(netns, OUTER, "+tcp") == ["127.0.0.1"]  # and TCP

    page = netns.run(
        python,
        "-c",
        "import urllib.request as u; print(u.urlopen('http://127.0.0.1:81/', timeout=5).read().decode())",
    )
    assert page.returncode == 0, page.stderr
    assert "www.ports.example.test" in page.stdout
    listening = netns.run("ss", "-Hlntu").stdout
    for socket_ in (
        "0.0.0.0:52710",
        "127.0.0.1:52700",
        "127.0.0.1:52701",
        "127.0.0.1:81",
        "0.0.0.0:53",
        "[::]:53",
    ):
        assert socket_ in listening, listening

    # A port taken: the second clustersync says which key to change, and exits.
    again = netns.run(python, "-m", "clustersync", "run", "-c", str(path))
    assert again.returncode == 1
    assert "cannot listen on 127.0.0.1 port 52700 (control): the port is already in use" in again.stderr
    assert "cluster.port" in again.stderr

    for proc in (failover, sync):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
