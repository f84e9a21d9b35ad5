"""A reload that fails for any reason leaves the running config in force and says why.

Said three ways: the log, a `reload` event on the dashboard, and `simplefailover reload`'s
exit code (1, with the reason) -- for an invalid file (2, before any signal) as before.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from simplefailover.daemon import Daemon
from tests.support.bind import free_port, wait_until
from tests.support.cli import simplefailover as cli
from tests.support.procs import a_records

NODE, DNS_HOST, DASH_HOST, BUSY_HOST = "127.0.16.11", "127.0.16.12", "127.0.16.13", "127.0.16.14"


@contextmanager
def tcp_node() -> Iterator[int]:
    """A node that answers the tcp polling: a listening socket on NODE."""
    with socket.socket() as server:
        server.bind((NODE, 0))
        server.listen(64)
        yield server.getsockname()[1]


def config_text(node_port: int, dns_port: int, dash: str, pid_file: Path, fall: int = 1) -> str:
    return f"""
zone: {{name: example.test, nameservers: [{{name: ns1.example.test, address: {DNS_HOST}}}]}}
nodes: [{{id: n1, address: {NODE}}}]
pollings: [{{id: up, method: tcp, port: {node_port}, timeout: 1}}]
hostnames: [{{name: www, polling: up}}]
schedule: {{interval: 0.3, retry_interval: 0.2, fall: {fall}, rise: 1, jitter: 0}}
dns: {{listen: ["{DNS_HOST}:{dns_port}"]}}
dashboard: {{listen: "{dash}"}}
service: {{pid_file: {pid_file}, watch_config: 0}}
"""


def answers(port: int) -> list[str]:
    return a_records("www.example.test", DNS_HOST, port)


def dashboard_events(listen: str) -> str:
    with urllib.request.urlopen(f"http://{listen}/", timeout=5) as page:
        return str(page.read().decode())


def test_a_reload_the_service_cannot_apply_is_reported_and_the_old_config_runs(tmp_path: Path) -> None:
    path, pid_file, log = tmp_path / "config.yaml", tmp_path / "sf.pid", tmp_path / "service.log"
    dns_port = free_port(DNS_HOST)
    dash = f"{DASH_HOST}:{free_port(DASH_HOST, (socket.SOCK_STREAM,))}"
    with tcp_node() as node_port, socket.socket() as busy:
        busy.bind((BUSY_HOST, 0))
        busy.listen()
        taken = f"{BUSY_HOST}:{busy.getsockname()[1]}"
        path.write_text(config_text(node_port, dns_port, dash, pid_file))
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "simplefailover", "run", "-c", str(path)],
                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            )  # fmt: skip
        try:
            wait_until(lambda: answers(dns_port) == [NODE], 30, "www answered")
            wait_until(pid_file.exists, 10, "the pid file")

            # The dashboard cannot move to a port another program holds: reload says so, exit 1.
            path.write_text(config_text(node_port, dns_port, taken, pid_file, fall=2))
            failed = cli("reload", "-c", str(path))
            assert failed.returncode == 1, failed.stdout + failed.stderr
            assert "reload FAILED" in failed.stderr
            assert f"dashboard: dashboard.listen {taken}: cannot listen" in failed.stderr
            assert f"the dashboard stays on {dash}" in failed.stderr
            assert process.poll() is None
            assert answers(dns_port) == [NODE]
            page = dashboard_events(dash)  # still served where it was, with the reason shown
            assert "cannot listen" in page and "partly applied" in page

            # A config it can apply: exit 0, and it is in force.
            path.write_text(config_text(node_port, dns_port, dash, pid_file, fall=3))
            done = cli("reload", "-c", str(path))
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"reloaded: {path}: applied" in done.stdout
            assert answers(dns_port) == [NODE]
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(15)
    assert process.returncode == 0, log.read_text()
    assert "dashboard could not take the new config; it keeps the old one" in log.read_text()
    assert not pid_file.exists() and not pid_file.with_name("sf.reload.json").exists()


def test_any_exception_while_applying_keeps_the_running_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, pid_file = tmp_path / "config.yaml", tmp_path / "sf.pid"
    dns_port = free_port(DNS_HOST)
    with tcp_node() as node_port:
        path.write_text(config_text(node_port, dns_port, f"{DASH_HOST}:0", pid_file))
        daemon = Daemon(path)
        daemon.start()
        try:
            wait_until(lambda: answers(dns_port) == [NODE], 30, "www answered")
            path.write_text(config_text(node_port, dns_port, f"{DASH_HOST}:0", pid_file, fall=4))

            def broken(checks: object) -> None:  # a fault in applying the config, not in the file
                raise RuntimeError("metrics broke")

            monkeypatch.setattr(daemon.metrics, "follow_config", broken)
            assert daemon.reload() is False  # returned, not raised
            assert daemon.engine.config.schedule.fall == 1  # rolled back to the running config
            (event,) = [e for e in daemon.engine.snapshot().events if e.kind == "reload"]
            assert event.new == "failed" and "RuntimeError: metrics broke" in event.reason
            assert answers(dns_port) == [NODE]
            monkeypatch.undo()
            assert daemon.reload() is True
            assert daemon.engine.config.schedule.fall == 4
        finally:
            daemon.stop()
