"""Live reload of a running `simplefailover run` process: SIGHUP and `simplefailover reload`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from simplefailover.config import parse_config
from simplefailover.ops.pidfile import default_pid_file, pid_file_of
from simplefailover.state import Status
from tests.support.bind import wait_until
from tests.support.cli import simplefailover as cli
from tests.support.procs import stop_process

from .notify.conftest import SmtpServer, free_port, smtp_server
from .notify.scenario import DNS_HOST, INSTANCE, config_text, running_daemon, running_nodes, wait_status

__all__ = ["smtp_server"]  # the fixture, imported for pytest

WWW, API = "www.example.test", "api.example.test"


def resolve(name: str, port: int) -> list[str]:
    """The A addresses the responder gives for name (raises on timeout)."""
    reply = dns.query.udp(dns.message.make_query(name, "A"), DNS_HOST, port=port, timeout=1)
    return sorted(item.address for rrset in reply.answer for item in rrset if rrset.rdtype == dns.rdatatype.A)


@dataclass
class QueryLoop:
    """Queries www in a loop (bounded: at most 3,000 queries) and counts what went wrong."""

    port: int
    answers: set[tuple[str, ...]] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    count: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set() and self.count < 3000:
            self.count += 1
            try:
                addresses = resolve(WWW, self.port)
            except Exception as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            else:
                if addresses:
                    self.answers.add(tuple(addresses))
                else:
                    self.failures.append("empty answer")
            self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def service_log(tmp_path: Path) -> Path:
    return tmp_path / "service.log"


def start_service(path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "simplefailover", "run", "-c", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=path.parent,
        )


def stop_service(process: subprocess.Popen[bytes]) -> None:
    stop_process(process)


def test_reload_moves_recipients_priority_and_hostnames_without_dns_silence(
    smtp_server: SmtpServer, tmp_path: Path, service_log: Path
) -> None:
    dns_port = free_port(DNS_HOST)
    pid_file = tmp_path / "run" / "sf.pid"
    path = tmp_path / "config.yaml"
    with running_nodes() as (nodes, http_port):

        def write(**changes: object) -> None:
            settings: dict[str, object] = {"dns_port": dns_port, "pid_file": pid_file}
            path.write_text(config_text(smtp_server.port, http_port, **(settings | changes)))  # type: ignore[arg-type]

        write(recipients=("old@example.com",), n2_priority=5)
        process = start_service(path, service_log)
        loop = QueryLoop(dns_port)
        thread = threading.Thread(target=loop.run, name="query-loop")
        try:
            wait_until(lambda: _answers(WWW, dns_port) == ["127.0.0.51"], 30, "www -> n1 over DNS")
            wait_until(pid_file.exists, 10, "the pid file")
            assert int(pid_file.read_text()) == process.pid
            if not Path("/run/systemd/system").is_dir():  # without systemd, status finds it by its pid file
                status = cli("service", "status", "-c", str(path))
                assert status.returncode == 0 and f"running: pid {process.pid}" in status.stdout
            thread.start()

            # New recipients, n2 above n1, one more hostname: applied by `simplefailover reload`.
            write(recipients=("new@example.com",), n2_priority=20, extra_hostname="api")
            result = cli("reload", "-c", str(path))
            assert result.returncode == 0, result.stderr
            assert f"sent SIGHUP to simplefailover pid {process.pid}" in result.stdout
            wait_until(lambda: _answers(WWW, dns_port) == ["127.0.0.52"], 10, "www -> n2 after reload")
            assert _answers(API, dns_port) == ["127.0.0.52"]

            # An invalid file is refused by the CLI, and by the service on a bare SIGHUP.
            path.write_text(path.read_text().replace("priority: 20", "priority: high") + "surprise: 1\n")
            refused = cli("reload", "-c", str(path))
            assert refused.returncode == 2
            assert "nodes[1].priority" in refused.stderr and "surprise: unknown key" in refused.stderr
            os.kill(process.pid, signal.SIGHUP)
            wait_until(lambda: "surprise: unknown key" in service_log.read_text(), 10, "the rejection logged")
            log = service_log.read_text()
            assert "rejected (2 problem(s)); keeping the running config" in log
            assert "nodes[1].priority" in log
            assert _answers(WWW, dns_port) == ["127.0.0.52"]  # still the running config

            # The next mail goes to the new recipients.
            nodes.stop("n2")
            (mail,) = smtp_server.collector.wait_for(1)
            assert mail.subject == f"[{INSTANCE}] web KO on n2"
            assert mail.rcpt_tos == ["new@example.com"]
            wait_until(lambda: _answers(WWW, dns_port) == ["127.0.0.51"], 10, "www back on n1")
        finally:
            loop.stop()
            if thread.is_alive():
                thread.join(10)
            stop_service(process)
    assert process.returncode == 0
    assert not pid_file.exists()  # removed on a clean stop
    assert loop.failures == [], loop.failures[:5]
    assert loop.count > 50
    assert {("127.0.0.51",), ("127.0.0.52",)} <= loop.answers


def test_saving_the_config_file_reloads_it_without_a_signal(
    smtp_server: SmtpServer, tmp_path: Path, service_log: Path
) -> None:
    dns_port = free_port(DNS_HOST)
    path = tmp_path / "config.yaml"
    with running_nodes() as (_, http_port):

        def write(**changes: object) -> None:
            settings: dict[str, object] = {"dns_port": dns_port, "pid_file": tmp_path / "sf.pid"}
            path.write_text(config_text(smtp_server.port, http_port, **(settings | changes)))  # type: ignore[arg-type]

        write(n2_priority=5)
        process = start_service(path, service_log)
        try:
            wait_until(lambda: _answers(WWW, dns_port) == ["127.0.0.51"], 30, "www -> n1 over DNS")
            write(n2_priority=20)  # saved, no SIGHUP: service.watch_config (2 s) notices it
            wait_until(lambda: _answers(WWW, dns_port) == ["127.0.0.52"], 20, "www -> n2 after the save")
            assert "changed on disk: reloading it" in service_log.read_text()
        finally:
            stop_service(process)
    assert process.returncode == 0


def _answers(name: str, port: int) -> list[str]:
    try:
        return resolve(name, port)
    except Exception:
        return []


def test_reload_without_a_running_service_says_so(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_text(2525, 8080, pid_file=tmp_path / "none.pid"))
    result = cli("reload", "-c", str(path))
    assert result.returncode == 2
    assert "no running simplefailover service found" in result.stderr
    assert str(tmp_path / "none.pid") in result.stderr


def test_a_stale_pid_file_is_not_trusted(tmp_path: Path) -> None:
    """A pid file naming some other process (a recycled pid) is never signalled."""
    path = tmp_path / "config.yaml"
    pid_file = tmp_path / "sf.pid"
    path.write_text(config_text(2525, 8080, pid_file=pid_file))
    pid_file.write_text(f"{os.getpid()}\n")  # pytest: alive, but not `simplefailover run`
    result = cli("reload", "-c", str(path))
    assert result.returncode == 2
    assert f"names pid {os.getpid()}, which is not a running simplefailover" in result.stderr


def test_default_pid_file_differs_per_config(tmp_path: Path) -> None:
    one, two = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert default_pid_file(one) != default_pid_file(two)
    assert default_pid_file(one) == default_pid_file(tmp_path / "." / "a.yaml")
    config = parse_config(config_text(2525, 8080))
    assert pid_file_of(config, one) == default_pid_file(one)


def test_reload_in_process_changes_nodes_pollings_hostnames_and_schedule(
    smtp_server: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.yaml"
    with running_nodes() as (nodes, http_port):
        base = config_text(smtp_server.port, http_port)
        path.write_text(base)
        with running_daemon(path) as daemon:
            wait_status(daemon, "n1", Status.OK)
            # n2 goes, a second polling with its own hostname comes, and fall becomes 3.
            changed = (
                base.replace("  - {id: n2, address: 127.0.0.52, priority: 5}\n", "")
                .replace(
                    "hostnames:\n",
                    '  - {id: page, method: http, url: "http://{address}:PORT/"}\nhostnames:\n'.replace(
                        "PORT", str(http_port)
                    ),
                )
                .replace(
                    "  - {name: www, polling: web}\n",
                    "  - {name: www, polling: web}\n  - {name: app, polling: page}\n",
                )
                .replace("fall: 1", "fall: 3")
            )
            path.write_text(changed)
            assert daemon.reload()
            assert set(daemon.engine.snapshot().checks) == {("n1", "web"), ("n1", "page")}
            wait_status(daemon, "n1", Status.OK, polling="page")
            assert daemon.engine.table.answers["app.example.test"].addresses == ("127.0.0.51",)
            nodes.stop("n1")
            subject = f"[{INSTANCE}] web KO on n1"
            wait_until(lambda: subject in smtp_server.collector.subjects(), 10, subject)
            mail = next(r for r in smtp_server.collector.received if r.subject == subject)
            assert "(3 consecutive failures)" in mail.body  # the new fall is in force

            # Every problem of an invalid file is logged; the running config stays.
            path.write_text(
                changed.replace("fall: 3", "fall: 0").replace("priority: 10", "priority: ten") + "extra: 1\n"
            )
            with caplog.at_level(logging.ERROR, logger="simplefailover.daemon"):
                assert not daemon.reload()
            assert daemon.engine.config.schedule.fall == 3
            errors = [r.getMessage() for r in caplog.records if r.name == "simplefailover.daemon"]
            assert "rejected (3 problem(s))" in errors[0]
            assert any("nodes[0].priority" in line for line in errors[1:])
            assert any("schedule.fall" in line for line in errors[1:])
            assert any("extra: unknown key" in line for line in errors[1:])
            reloads = [e.new for e in daemon.engine.snapshot().events if e.kind == "reload"]
            assert reloads == ["applied", "rejected"]
