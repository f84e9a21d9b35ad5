"""A real browser (Debian's chromium, driven by Playwright) watches a failover on the page.

Demo nodes listen on 127.0.0.41-42, a real Daemon polls them and serves the dashboard;
one node is stopped and the page, reloading itself with JavaScript turned off, must
show it KO and DNS on the other node. Set SIMPLEFAILOVER_SCREENSHOT=docs/dashboard.png
to refresh the screenshot in the docs.
"""

from __future__ import annotations

import http.client
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from habase import ports
from simplefailover.config import Config, load_config
from simplefailover.daemon import Daemon
from simplefailover.dashboard.server import DashboardService
from simplefailover.demo import DemoNode

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NODES = ("127.0.0.41", "127.0.0.42")


def free_port(addresses: tuple[str, ...]) -> int:
    """A port free on every address at once (the polling URL uses one port for all nodes)."""
    return ports.free_port(addresses)


CONFIG = """
zone: {{name: imagicle.example.com, ttl: 30}}
nodes:
  - {{id: node1, address: {a}, priority: 10}}
  - {{id: node2, address: {b}, priority: 5}}
pollings:
  - {{id: poll1, method: http, url: "http://{{address}}:{http}/fw/login", expect_body: Login, timeout: 2}}
  - {{id: poll2, method: telnet, port: {tcp}, expect: ready, timeout: 2}}
hostnames:
  - {{name: ias1, polling: poll1}}
  - {{name: ias2, polling: poll2}}
schedule: {{interval: 1, retry_interval: 0.3, fall: 2, rise: 1}}
dns: {{listen: ["127.0.0.46:0"]}}
dashboard: {{listen: "127.0.0.40:0", refresh: 1}}
monitoring: {{notifications: false}}
"""


@dataclass
class Running:
    config: Config
    daemon: Daemon
    nodes: dict[str, DemoNode]
    url: str


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    path = tmp_path / "config.yaml"
    http_port = tcp_port = free_port(NODES)
    while tcp_port == http_port:  # both were free, but the demo node needs them apart
        tcp_port = free_port(NODES)
    path.write_text(CONFIG.format(a=NODES[0], b=NODES[1], http=http_port, tcp=tcp_port))
    config = load_config(path)
    nodes = {n.id: DemoNode(n, http_port, [tcp_port]) for n in config.nodes}
    for node in nodes.values():
        node.start()
    daemon = Daemon(path, config)
    daemon.start()
    try:
        [dashboard] = [s for s in daemon.services if isinstance(s, DashboardService)]
        host, port = dashboard.addresses[0]
        yield Running(config, daemon, nodes, f"http://{host}:{port}/")
    finally:
        daemon.stop()
        for node in nodes.values():
            node.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll a condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return False


def test_daemon_serves_the_dashboard(running: Running) -> None:
    host, port = running.url.split("/")[2].rsplit(":", 1)

    def healthz() -> int:
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request("GET", "/healthz", headers={"Host": f"localhost:{port}"})
            return conn.getresponse().status
        finally:
            conn.close()

    assert wait_for(lambda: healthz() == 200), "/healthz never said 200"


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is absent (Debian package chromium)")
def test_browser_sees_a_failover(running: Running, tmp_path: Path) -> None:
    zone = running.config.zone.name

    def status(page: Page, node: str, polling: str) -> Locator:
        return page.locator(f'#checks tr[data-node="{node}"][data-polling="{polling}"] .status')

    def dns(page: Page, name: str) -> Locator:
        return page.locator(f'#dns tr[data-fqdn="{name}.{zone}"] .addresses')

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # No JavaScript: the page must refresh itself with its meta tag alone.
            context = browser.new_context(java_script_enabled=False, viewport={"width": 1366, "height": 768})
            page = context.new_page()
            page.goto(running.url)
            expect(page.locator("#zone")).to_have_text(zone)
            for node in ("node1", "node2"):
                for polling in ("poll1", "poll2"):
                    expect(status(page, node, polling)).to_have_text("OK", timeout=15_000)
            expect(page.locator("#checks tbody tr")).to_have_count(4)
            first = page.locator("#checks tbody tr").first
            expect(first).to_contain_text("node1")
            expect(first).to_contain_text("127.0.0.41")
            expect(first).to_contain_text("http")
            expect(dns(page, "ias1")).to_have_text("127.0.0.41")
            expect(dns(page, "ias2")).to_have_text("127.0.0.41")

            running.nodes["node1"].stop()

            expect(status(page, "node1", "poll1")).to_have_text("KO", timeout=20_000)
            expect(status(page, "node1", "poll2")).to_have_text("KO", timeout=20_000)
            expect(dns(page, "ias1")).to_have_text("127.0.0.42", timeout=20_000)
            expect(dns(page, "ias2")).to_have_text("127.0.0.42", timeout=20_000)
            expect(status(page, "node2", "poll1")).to_have_text("OK")
            expect(page.locator('#events tr[data-kind="answer"]').first).to_contain_text("127.0.0.42")

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes().startswith(b"\x89PNG")
            docs_copy = os.environ.get("SIMPLEFAILOVER_SCREENSHOT")
            if docs_copy:
                page.screenshot(path=docs_copy, full_page=True)
        finally:
            browser.close()
