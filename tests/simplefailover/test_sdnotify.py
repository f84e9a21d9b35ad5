"""Both services tell systemd when they serve, reload and stop (the units are Type=notify).

A datagram socket of the test stands in for systemd's NOTIFY_SOCKET: READY=1 must come
only once the service answers, a SIGHUP brings RELOADING=1 then READY=1 with the outcome,
and SIGTERM STOPPING=1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from habase.sdnotify import notify
from tests.clustersync.nodes import make_nodes
from tests.support.bind import free_port
from tests.support.procs import stop_process

NODE, DNS_HOST = "127.0.16.61", "127.0.16.62"


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[socket.socket]:
    """The socket a service notifies, as systemd's NOTIFY_SOCKET."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(30)
        yield sock


def received(sock: socket.socket) -> dict[str, str]:
    fields = sock.recv(4096).decode().split("\n")
    return dict(field.split("=", 1) for field in fields)


def start(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")}
    with (tmp_path / f"{args[0]}.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=log, stderr=subprocess.STDOUT)


def test_simplefailover_notifies_ready_reloading_and_stopping(systemd: socket.socket, tmp_path: Path) -> None:
    dns_port = free_port(DNS_HOST)
    path = tmp_path / "config.yaml"
    with socket.socket() as node:
        node.bind((NODE, 0))
        node.listen(16)
        path.write_text(f"""
zone: {{name: example.test}}
nodes: [{{id: n1, address: {NODE}}}]
pollings: [{{id: up, method: tcp, port: {node.getsockname()[1]}, timeout: 1}}]
hostnames: [{{name: www, polling: up}}]
schedule: {{interval: 0.3, retry_interval: 0.2, fall: 1, rise: 1, jitter: 0}}
dns: {{listen: ["{DNS_HOST}:{dns_port}"]}}
dashboard: {{enabled: false}}
service: {{pid_file: {tmp_path / "sf.pid"}, watch_config: 0}}
""")
        proc = start(tmp_path, "simplefailover", "run", "-c", str(path))
        try:
            first = received(systemd)
            assert first["READY"] == "1" and first["STATUS"] == f"serving with {path}"
            # DNS answers by the time it says so (a timeout would raise here)
            dns.query.udp(dns.message.make_query("www.example.test", "A"), DNS_HOST, port=dns_port, timeout=2)
            proc.send_signal(signal.SIGHUP)
            assert received(systemd) == {"RELOADING": "1", "STATUS": "reloading the config"}
            again = received(systemd)
            assert again["READY"] == "1" and again["STATUS"] == "serving; last reload applied"
            proc.send_signal(signal.SIGTERM)
            assert received(systemd)["STOPPING"] == "1"
        finally:
            assert stop_process(proc) == 0


def test_clustersync_notifies_ready_reloading_and_stopping(systemd: socket.socket, tmp_path: Path) -> None:
    (node,) = make_nodes(tmp_path, ["127.0.16.63"])
    node.cli("create")
    proc = start(tmp_path, "clustersync", "run", "-c", str(node.config))
    try:
        first = received(systemd)
        assert first["READY"] == "1"
        with socket.create_connection((node.address, node.port), timeout=5):
            pass  # it listens by the time it says so
        node.write_config(sync_interval=1)
        proc.send_signal(signal.SIGHUP)
        assert received(systemd)["RELOADING"] == "1"
        again = received(systemd)
        assert again["READY"] == "1" and again["STATUS"].startswith("serving; last reload applied")
        proc.send_signal(signal.SIGTERM)
        assert received(systemd)["STOPPING"] == "1"
    finally:
        assert stop_process(proc) == 0


def test_outside_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify")
    assert notify("READY=1") is False  # logged, never raised
