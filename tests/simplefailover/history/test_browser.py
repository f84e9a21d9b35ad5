"""The history page in a real browser (Debian's chromium, JavaScript off), checked against the store.

The store is given a past first (an outage of node1's web check, a maintenance window of
node2 by alice), through the history service's own API; then a real Daemon polls demo
nodes on 127.0.24.31-32 and node1 fails while the browser watches. The availability read
off the SVG band's rectangles (their widths as laid out by the browser) must agree with
the one computed from the stored events. Set SIMPLEFAILOVER_HISTORY_SCREENSHOT=docs/history.png
to refresh the screenshot in the docs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from simplefailover.config import Config, load_config
from simplefailover.daemon import Daemon
from simplefailover.dashboard.server import DashboardService
from simplefailover.demo import DemoNode
from simplefailover.demo.procs import wait_until
from simplefailover.history import HistoryService
from simplefailover.pollers.result import PollResult
from simplefailover.state import Transition

from .conftest import write_config

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
NODES = ("127.0.24.31", "127.0.24.32")
HOST = "127.0.24.30"


def seed_past(config: Config, path: Path, now: float) -> None:
    """Fifty minutes of earlier history, recorded through the service's own calls."""
    history = HistoryService(config, path)
    history.start()
    t0 = now - 50 * 60
    steps: list[tuple[float, str, str, str, str]] = [
        (t0, "node1", "web", "UNKNOWN", "OK"),
        (t0, "node2", "web", "UNKNOWN", "OK"),
        (t0, "node1", "sip", "UNKNOWN", "OK"),
        (t0, "node2", "sip", "UNKNOWN", "OK"),
        (t0 + 600, "node1", "web", "OK", "KO"),
        (t0 + 900, "node1", "web", "KO", "OK"),
        (t0 + 1500, "node1", "web", "OK", "KO"),
        (t0 + 1560, "node1", "web", "KO", "OK"),
    ]
    for minute in range(50):  # one result a minute, so the sparkline has a past too
        for node, polling in (("node1", "web"), ("node2", "web"), ("node1", "sip"), ("node2", "sip")):
            latency = 0.004 + 0.002 * (minute % 5) + (0.01 if node == "node2" else 0)
            history.observe_result(node, polling, PollResult(True, latency, "", t0 + minute * 60 + 1))
    for at, node, polling, old, new in steps:
        reason = "first check" if old == "UNKNOWN" else "connection refused (2 consecutive failures)"
        batch = [Transition("check", at, old, new, reason, node, polling)]
        if node == "node1" and polling == "web" and old != "UNKNOWN":  # as the engine: one batch
            history.observe_result(node, polling, PollResult(new == "OK", 0.005, "", at - 0.6))
            a, b = (NODES[0], NODES[1]) if new == "KO" else (NODES[1], NODES[0])
            why = f"{'node2' if new == 'KO' else 'node1'} is the highest-priority node whose web is OK"
            batch.append(Transition("answer", at, a, b, why, hostname="www.example.test"))
        history.on_transitions(batch)
    history.audit("maintenance", "alice", "127.0.24.99", "disk swap", node="node2", new="on", at=t0 + 1800)
    history.audit(
        "maintenance", "alice", "127.0.24.99", "disk swapped", node="node2", new="off", at=t0 + 2100
    )
    assert history.wait_written(10)
    history.stop()


def availability_from_events(
    events: list[dict[str, Any]], node: str, polling: str, start: float, end: float
) -> float:
    """OK / (OK + KO) seconds of one check in [start, end], from its stored transitions alone."""
    mine = sorted(
        (e for e in events if e["kind"] == "check" and e["node"] == node and e["polling"] == polling),
        key=lambda e: e["at"],
    )
    service = sorted(e["at"] for e in events if e["kind"] == "service" and e["new"] == "stopped")
    seconds = {"OK": 0.0, "KO": 0.0}
    for this, following in zip(mine, [*mine[1:], None], strict=True):
        until = following["at"] if following else end
        stops = [s for s in service if this["at"] <= s < until]
        if stops:  # the service stopped: no data until it said something again
            until = stops[0]
        lo, hi = max(this["at"], start), min(until, end)
        if hi > lo and this["new"] in seconds:
            seconds[this["new"]] += hi - lo
    return 100 * seconds["OK"] / (seconds["OK"] + seconds["KO"])


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, dict[str, DemoNode], str]]:
    path, ports = write_config(tmp_path, host=HOST, nodes=NODES)
    config = load_config(path)
    nodes = {n.id: DemoNode(n, ports["http"], [ports["tcp"]]) for n in config.nodes}
    for node in nodes.values():
        node.start()
    seed_past(config, tmp_path / "state" / "history.db", time.time())
    running = Daemon(path, config)
    running.start()
    try:
        [dashboard] = [s for s in running.services if isinstance(s, DashboardService)]
        host, port = dashboard.addresses[0]
        yield running, nodes, f"http://{host}:{port}"
    finally:
        running.stop()
        for node in nodes.values():
            node.stop()


def band_availability(page: Page, node: str, polling: str) -> float:
    """OK / (OK + KO) of the widths the browser gave the band's rectangles."""
    row = page.locator(f'#availability tr[data-node="{node}"][data-polling="{polling}"]')
    widths = {}
    for state in ("ok", "ko"):
        boxes = [r.bounding_box() for r in row.locator(f"svg.band rect.{state}").all()]
        widths[state] = sum(b["width"] for b in boxes if b is not None)
    return 100 * widths["ok"] / (widths["ok"] + widths["ko"])


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is absent (Debian package chromium)")
def test_history_page_draws_what_the_store_holds(daemon: tuple[Daemon, dict[str, DemoNode], str]) -> None:
    service, nodes, url = daemon
    history = service.history
    assert history is not None
    engine = service.engine
    wait_until(lambda: engine.ready.is_set(), 20, "the first round of polls")
    nodes["node1"].stop()
    wait_until(lambda: engine.table.answers["www.example.test"].node_ids == ("node2",), 20, "www on node2")
    time.sleep(0)  # (no wait: the page must draw the outage as it is now)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(java_script_enabled=False, viewport={"width": 1366, "height": 900})
            page = context.new_page()
            page.goto(f"{url}/history?window=hour")
            table = page.locator("#availability")
            expect(table.locator("tbody tr")).to_have_count(4)
            start = float(table.get_attribute("data-start") or 0)
            now = float(table.get_attribute("data-now") or 0)
            response = context.request.get(
                f"{url}/api/history?since={start - 3600}", headers={"Host": "localhost"}
            )
            assert response.ok, response.text()
            events = response.json()
            for node, polling in (("node1", "web"), ("node2", "web"), ("node1", "sip")):
                drawn = band_availability(page, node, polling)
                stored = availability_from_events(events, node, polling, start, now)
                shown = page.locator(f'#availability tr[data-node="{node}"][data-polling="{polling}"] .pct')
                assert abs(drawn - stored) < 0.5, (node, polling, drawn, stored)
                assert abs(float(shown.inner_text().rstrip(" %")) - stored) < 0.5
            row = table.locator('tr[data-node="node1"][data-polling="web"]')
            assert row.locator("svg.band rect.ko").count() >= 3  # two past outages and the one now
            assert table.locator('tr[data-node="node2"][data-polling="web"] svg.band rect.maint').count() == 1
            expect(row.locator("svg.spark path.avg")).to_have_count(1)
            expect(
                page.locator('#hostnames tr[data-fqdn="www.example.test"] [data-nodes="node2"]')
            ).to_have_count(1)
            expect(page.locator('div.failover[data-hostname="www.example.test"]').first).to_be_visible()
            audit = page.locator('#history-events tr[data-kind="audit"]').first
            expect(audit).to_contain_text("alice")
            expect(audit).to_contain_text("127.0.24.99")
            shot = os.environ.get("SIMPLEFAILOVER_HISTORY_SCREENSHOT")
            if shot:
                page.screenshot(path=shot, full_page=True)
        finally:
            browser.close()
