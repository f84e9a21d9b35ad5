"""End to end: real demo HTTP nodes stopped and started, a real Daemon, a real SMTP server."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from simplefailover.config import parse_config
from simplefailover.engine import Engine
from simplefailover.notify import AlertService
from simplefailover.pollers.result import PollResult
from simplefailover.state import Status
from tests.support.bind import wait_until

from .conftest import SMTP_HOST, Collector, SmtpServer, free_port
from .scenario import INSTANCE, alerts_of, config_text, running_daemon, running_nodes, wait_status

WWW = "www.example.test"


def test_scripted_failures_mail_exactly_the_expected_mails(smtp_server: SmtpServer, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    inbox = smtp_server.collector
    with running_nodes() as (nodes, http_port):
        path.write_text(config_text(smtp_server.port, http_port))
        with running_daemon(path) as daemon:
            wait_status(daemon, "n1", Status.OK)
            wait_status(daemon, "n2", Status.OK)
            nodes.stop("n1")
            inbox.wait_for(1)
            nodes.stop("n2")
            inbox.wait_for(3)
            nodes.start("n1")
            inbox.wait_for(4)
            nodes.start("n2")
            inbox.wait_for(5)
            wait_status(daemon, "n2", Status.OK)
            assert alerts_of(daemon).wait_idle(10)
            events = daemon.engine.snapshot().events
    received = inbox.received
    assert [r.subject for r in received] == [
        f"[{INSTANCE}] web KO on n1",
        f"[{INSTANCE}] web KO on n2",
        f"[{INSTANCE}] ALL NODES DOWN for {WWW}",
        f"[{INSTANCE}] web OK again on n1",
        f"[{INSTANCE}] web OK again on n2",
    ]
    assert all(r.rcpt_tos == ["ops@example.com"] for r in received)
    first, _, all_down, back, _ = (r.body for r in received)
    assert "Polling failure: polling web on node n1 is KO (was OK)." in first
    assert f"  {WWW} -> 127.0.0.52 (n2)" in first  # the new DNS answer
    assert "Error:    " in first and "(1 consecutive failures)" in first
    assert "no node is OK: answering every node" in all_down
    assert f"  {WWW} -> 127.0.0.51, 127.0.0.52 (n1, n2)  [ALL DOWN]" in all_down
    assert f"  {WWW} -> 127.0.0.51 (n1)" in back
    assert all(f"instance {INSTANCE} on host" in r.body for r in received)
    assert [e.new for e in events if e.kind == "mail"] == ["sent"] * 5


def test_mail_server_down_then_back_delivers_the_queued_mails(smtp_idle: SmtpServer, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    with running_nodes() as (nodes, http_port):
        path.write_text(config_text(smtp_idle.port, http_port))
        with running_daemon(path) as daemon:
            wait_status(daemon, "n1", Status.OK)
            nodes.stop("n1")

            def failed_twice() -> bool:
                return [e.new for e in daemon.engine.snapshot().events if e.kind == "mail"].count(
                    "failed"
                ) >= 2

            wait_until(failed_twice, 10, "two failed sending attempts")
            # Polling and DNS went on meanwhile: the answer already moved to n2.
            assert daemon.engine.table.answers[WWW].addresses == ("127.0.0.52",)
            nodes.start("n1")
            wait_status(daemon, "n1", Status.OK)
            smtp_idle.start()
            received = smtp_idle.collector.wait_for(2)
            assert alerts_of(daemon).wait_idle(10)
            kinds = [e.new for e in daemon.engine.snapshot().events if e.kind == "mail"]
    assert [r.subject for r in received] == [f"[{INSTANCE}] web KO on n1", f"[{INSTANCE}] web OK again on n1"]
    assert kinds[-2:] == ["sent", "sent"] and "given up" not in kinds


def test_a_flapping_node_produces_one_digest(smtp_server: SmtpServer, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    inbox = smtp_server.collector
    with running_nodes() as (nodes, http_port):
        path.write_text(config_text(smtp_server.port, http_port, storm_threshold=2, storm_window=8))
        with running_daemon(path) as daemon:
            wait_status(daemon, "n1", Status.OK)
            for _ in range(3):  # six changes: two mailed one by one, four in the digest
                nodes.stop("n1")
                wait_status(daemon, "n1", Status.KO)
                nodes.start("n1")
                wait_status(daemon, "n1", Status.OK)
            inbox.wait_for(3, timeout=20)
            assert alerts_of(daemon).wait_idle(5)
    received = inbox.received
    assert [r.subject for r in received] == [
        f"[{INSTANCE}] web KO on n1",
        f"[{INSTANCE}] web OK again on n1",
        f"[{INSTANCE}] 4 changes in {received[2].subject.split(' changes in ')[1]}",
    ]
    assert received[2].subject.endswith("(digest)")
    digest_lines = [line for line in received[2].body.splitlines() if "web on n1:" in line]
    assert [line.split("  ", 1)[1].split(" (")[0] for line in digest_lines] == [
        "web on n1: OK -> KO",
        "web on n1: KO -> OK",
        "web on n1: OK -> KO",
        "web on n1: KO -> OK",
    ]


def _ok(ok: bool) -> PollResult:
    return PollResult(ok, 0.001, "" if ok else "connection refused", time.time())


@pytest.mark.parametrize("page_up", [True, False])
def test_hostname_added_by_reload_is_not_all_down_until_its_checks_report(
    smtp_server: SmtpServer, page_up: bool
) -> None:
    """Its checks start UNKNOWN: all down is declared (and mailed) only once they report KO."""
    base = config_text(smtp_server.port, 8080)
    engine = Engine(parse_config(base))
    alerts = AlertService(engine.config, engine)
    engine.subscribe(alerts.on_transitions)
    alerts.start()
    try:
        for node in ("n1", "n2"):
            engine.record(node, "web", _ok(True))
        added = base.replace(
            "hostnames:\n", '  - {id: page, method: http, url: "http://{address}:8080/"}\nhostnames:\n'
        ).replace(
            "  - {name: www, polling: web}\n",
            "  - {name: www, polling: web}\n  - {name: app, polling: page}\n",
        )
        engine.reconfigure(parse_config(added))
        alerts.reconfigure(engine.config)
        assert not engine.table.answers["app.example.test"].all_down  # not checked yet
        engine.record("n1", "page", _ok(page_up))
        engine.record("n2", "page", _ok(page_up))
        alerts.dns_update_failed(WWW, "127.0.0.1:53", "NOTAUTH")  # a marker that comes after
        smtp_server.collector.wait_for(1 if page_up else 2)
        assert alerts.wait_idle(5)
    finally:
        alerts.stop()
    expected = [] if page_up else [f"[{INSTANCE}] ALL NODES DOWN for app.example.test"]
    assert smtp_server.collector.subjects() == [*expected, f"[{INSTANCE}] DNS update FAILED for {WWW}"]
    events = engine.snapshot().events
    assert any(e.kind == "dns_update" and e.reason == "127.0.0.1:53: NOTAUTH" for e in events)


class StalledCollector(Collector):
    """Holds every DATA until released: a mail server that has stopped answering."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.entered.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        return await super().handle_DATA(server, session, envelope)


def test_a_stalled_mail_server_never_delays_polling_or_dns(tmp_path: Path) -> None:
    collector = StalledCollector()
    server = SmtpServer(SMTP_HOST, free_port(SMTP_HOST), collector)
    server.start()
    path = tmp_path / "config.yaml"
    try:
        with running_nodes() as (nodes, http_port):
            path.write_text(config_text(server.port, http_port, smtp_timeout=60))
            with running_daemon(path) as daemon:
                wait_status(daemon, "n1", Status.OK)
                wait_status(daemon, "n2", Status.OK)
                nodes.stop("n1")
                assert collector.entered.wait(10), "the first mail never reached the server"
                # The mail is stuck in DATA; failures are still seen and answered at once.
                nodes.stop("n2")
                wait_status(daemon, "n2", Status.KO)
                wait_until(lambda: daemon.engine.table.answers[WWW].all_down, 5, "www all down")
                assert collector.received == []
                collector.release.set()
                collector.wait_for(3)
                assert alerts_of(daemon).wait_idle(10)
    finally:
        collector.release.set()
        server.stop()
    assert collector.subjects() == [
        f"[{INSTANCE}] web KO on n1",
        f"[{INSTANCE}] web KO on n2",
        f"[{INSTANCE}] ALL NODES DOWN for {WWW}",
    ]


def test_stopping_mails_a_storm_in_progress_as_its_digest(smtp_server: SmtpServer) -> None:
    config = parse_config(config_text(smtp_server.port, 8080, storm_threshold=1, storm_window=3600))
    engine = Engine(config)
    alerts = AlertService(config, engine)
    engine.subscribe(alerts.on_transitions)
    alerts.start()
    try:
        engine.record("n2", "web", _ok(True))
        for ok in (True, False, True, False):
            engine.record("n1", "web", _ok(ok))
        smtp_server.collector.wait_for(1)
    finally:
        alerts.stop()
    subjects = smtp_server.collector.subjects()
    assert subjects == [
        f"[{INSTANCE}] web KO on n1",
        f"[{INSTANCE}] 2 changes in {subjects[1].split(' in ')[1]}",
    ]
    assert subjects[1].endswith("(digest)")
