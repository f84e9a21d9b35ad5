"""End to end: real HTTP nodes, the whole daemon (responder off), a real BIND and a real SMTP server."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import pytest
from aiosmtpd.controller import Controller

from simplefailover.config import Node
from simplefailover.daemon import Daemon
from simplefailover.dashboard.server import DashboardService
from simplefailover.demo import DemoNode
from simplefailover.dns.service import DnsService
from simplefailover.dns.update import DnsUpdater
from tests.support.smtp import Inbox

from .conftest import KEY_NAME, SECRET, WRONG_SECRET, ZONE, Bind, free_port, wait_until

IAS1 = f"ias1.{ZONE}"
N1, N2, SMTP_HOST = "127.0.0.81", "127.0.0.82", "127.0.0.83"  # this suite's: 127.0.0.80-89

CONFIG = """
zone: {{name: {zone}, ttl: 30}}
nodes:
  - {{id: n1, address: {n1}, priority: 10}}
  - {{id: n2, address: {n2}, priority: 5}}
pollings:
  - {{id: web, method: http, url: "http://{{address}}:{http_port}/fw/login", expect_body: Login, timeout: 1}}
hostnames:
  - {{name: ias1, polling: web}}
schedule: {{interval: 0.3, retry_interval: 0.2, fall: 1, rise: 1}}
dns:
  listen: []
  update:
    server: {bind_host}
    port: {bind_port}
    key_name: {key}
    secret_file: tsig.secret
    ttl: {ttl}
    timeout: 3
    verify_interval: 0.5
    retry_delay: 0.2
    retry_max_delay: 1
dashboard: {{listen: "127.0.0.1:0"}}
monitoring:
  recipients: [ops@example.com]
  smtp: {{host: {smtp_host}, port: {smtp_port}, security: none, sender: ha@example.com, timeout: 2}}
  retry_delay: 0.2
"""


@dataclass
class Site:
    """Two demo nodes, an SMTP server and a config file pointing the daemon at BIND."""

    bind: Bind
    nodes: dict[str, DemoNode]
    inbox: Inbox
    config_path: Path
    fields: dict[str, object]

    def write_config(self, **changes: object) -> None:
        self.fields.update(changes)
        self.config_path.write_text(CONFIG.format(**self.fields))

    def daemon(self) -> Daemon:
        daemon = Daemon(self.config_path)
        daemon.start()
        return daemon


def http_port_free_on_both() -> int:
    """A TCP port free on both demo node addresses (the polling URL has one port for all)."""
    for _ in range(50):
        port = free_port(N1, kinds=(socket.SOCK_STREAM,))
        with socket.socket() as probe:
            try:
                probe.bind((N2, port))
            except OSError:
                continue
        return port
    raise AssertionError("no TCP port free on both demo node addresses")


@pytest.fixture
def site(bind: Bind, tmp_path: Path) -> Iterator[Site]:
    http_port = http_port_free_on_both()
    nodes = {
        node_id: DemoNode(Node(id=node_id, address=address, priority=0), http_port, [])
        for node_id, address in (("n1", N1), ("n2", N2))
    }
    for node in nodes.values():
        node.start()
    inbox = Inbox()
    smtp = Controller(inbox, hostname=SMTP_HOST, port=free_port(SMTP_HOST))
    smtp.start()
    (tmp_path / "tsig.secret").write_text(SECRET + "\n")
    fields: dict[str, object] = {
        "zone": ZONE,
        "n1": N1,
        "n2": N2,
        "http_port": http_port,
        "bind_host": bind.host,
        "bind_port": bind.port,
        "key": KEY_NAME,
        "ttl": 30,
        "smtp_host": SMTP_HOST,
        "smtp_port": smtp.port,
    }
    site = Site(bind, nodes, inbox, tmp_path / "config.yaml", fields)
    site.write_config()
    try:
        yield site
    finally:
        smtp.stop()
        for node in nodes.values():
            node.stop()


@pytest.fixture
def running(site: Site) -> Iterator[Daemon]:
    daemon = site.daemon()
    try:
        yield daemon
    finally:
        daemon.stop()


def service(daemon: Daemon, kind: type) -> Any:
    return next(s for s in daemon.services if isinstance(s, kind))


def metric(daemon: Daemon, name: str) -> float:
    return daemon.metrics.registry.get_sample_value(name, {"hostname": IAS1}) or 0.0


def holds(bind: Bind, *addresses: str) -> bool:
    try:
        return bind.addresses(IAS1) == set(addresses)
    except dns.exception.Timeout:  # a busy machine: ask again
        return False


def test_failover_and_failback_are_pushed_to_bind(site: Site, running: Daemon) -> None:
    bind = site.bind
    assert service(running, DnsService).addresses == []  # dns.listen: [] - the responder is off
    wait_until(lambda: holds(bind, N1), 10, "BIND to hold n1 (the zone file said 127.0.0.89)")
    assert bind.ttl(IAS1) == 30
    site.nodes["n1"].stop()
    wait_until(lambda: holds(bind, N2), 10, "BIND to fail over to n2")
    site.nodes["n1"].start()
    wait_until(lambda: holds(bind, N1), 10, "BIND to fail back to n1")
    # BIND holds n1 as soon as it has applied the UPDATE; the updater counts it once the
    # answer is back (a moment later, longer on a busy machine): await the count.
    sent = lambda: metric(running, "simplefailover_dns_updates_sent_total")  # noqa: E731
    wait_until(lambda: sent() >= 3, 10, "3 UPDATEs counted (to n1 from the zone file's, failover, failback)")
    assert metric(running, "simplefailover_dns_update_failures_total") == 0
    assert metric(running, "simplefailover_dns_update_in_sync") == 1


def test_wrong_tsig_key_is_refused_mailed_and_shown_in_api_status(site: Site, bind: Bind) -> None:
    (site.config_path.parent / "tsig.secret").write_text(WRONG_SECRET)
    daemon = site.daemon()
    try:
        wait_until(
            lambda: any("DNS update FAILED for " + IAS1 in s for s in site.inbox.subjects()),
            15,
            "the DNS update failure mail",
        )
        mail = next(m for m in site.inbox.mails if "DNS update FAILED" in str(m["Subject"]))
        body = str(mail.get_content())
        assert "BADSIG" in body and KEY_NAME in body and WRONG_SECRET not in body
        host, port = service(daemon, DashboardService).addresses[0]
        with urllib.request.urlopen(f"http://{host}:{port}/api/status", timeout=5) as reply:
            status = json.load(reply)
        failures = [e for e in status["events"] if e["kind"] == "dns_update" and e["new"] == "failed"]
        assert failures and failures[0]["hostname"] == IAS1 and "BADSIG" in failures[0]["reason"]
        assert metric(daemon, "simplefailover_dns_update_failures_total") >= 1
        assert metric(daemon, "simplefailover_dns_update_in_sync") == 0
        assert metric(daemon, "simplefailover_dns_updates_sent_total") == 0
    finally:
        daemon.stop()
    assert holds(bind, "127.0.0.89")  # refused: the zone is as it was
    assert len([s for s in site.inbox.subjects() if "DNS update FAILED" in s]) == 1  # once per outage


def test_bind_down_is_retried_and_put_right_when_it_is_back(site: Site, running: Daemon) -> None:
    bind = site.bind
    wait_until(lambda: holds(bind, N1), 10, "BIND to hold n1")
    bind.stop()
    site.nodes["n1"].stop()
    wait_until(
        lambda: metric(running, "simplefailover_dns_update_failures_total") >= 3, 15, "three failed tries"
    )
    assert metric(running, "simplefailover_dns_update_in_sync") == 0
    bind.start()  # same port, same files
    wait_until(lambda: holds(bind, N2), 15, "BIND, started again, to be put right (n2)")
    wait_until(lambda: metric(running, "simplefailover_dns_update_in_sync") == 1, 5, "in sync again")
    events = running.engine.snapshot().events
    assert any(e.kind == "dns_update" and e.new == "failed" for e in events)
    assert any(e.kind == "dns_update" and e.new == "OK" for e in events)


def test_a_record_changed_behind_its_back_is_put_right(site: Site, running: Daemon) -> None:
    bind = site.bind
    wait_until(lambda: holds(bind, N1), 10, "BIND to hold n1")
    bind.set_records(IAS1, "A", "127.0.0.88")
    bind.set_records(IAS1, "AAAA", "::1")
    wait_until(lambda: holds(bind, N1), 10, "the periodic check to put the record right")


def test_reload_resyncs_with_the_new_settings(site: Site, running: Daemon) -> None:
    bind = site.bind
    wait_until(lambda: holds(bind, N1), 10, "BIND to hold n1")
    site.write_config(ttl=12)
    assert running.reload()
    wait_until(lambda: bind.ttl(IAS1) == 12, 10, "the new TTL to be pushed")
    assert holds(bind, N1)


def test_a_second_instance_sends_nothing_when_bind_already_agrees(site: Site, running: Daemon) -> None:
    bind = site.bind
    wait_until(lambda: holds(bind, N1), 10, "the first instance to push n1")
    serial = bind.serial()
    second = site.daemon()
    try:
        assert isinstance(service(second, DnsUpdater), DnsUpdater)
        wait_until(
            lambda: metric(second, "simplefailover_dns_update_in_sync") == 1, 10, "the second to check"
        )
        assert metric(second, "simplefailover_dns_updates_sent_total") == 0
        assert bind.serial() == serial  # no UPDATE was applied, not even a no-op one
    finally:
        second.stop()
