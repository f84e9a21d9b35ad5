"""A real browser (Debian's chromium, Playwright, JavaScript off) sets up a cluster on the HA page.

Two nodes on 127.0.0.150-151, each a real `simplefailover run` (the dashboard) and, once
it is a member, a real `clustersync run`. The wizard creates the cluster on node 1's
page and joins node 2 through node 2's page; both pages then list both nodes with green
alarms. Set HA_SCREENSHOTS=docs to refresh docs/ha-*.png.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from simplefailover.demo.procs import listening
from tests.support.bind import wait_until

from .ha_nodes import HaNode, Processes, log_in_page, log_tail, make_node
from .test_browser import CHROMIUM, CHROMIUM_ARGS

ALARMS = ("readiness", "activity", "time_alignment")
ROWS = 1000


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is absent: install the Debian package chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def procs() -> Iterator[Processes]:
    running = Processes()
    try:
        yield running
    finally:
        running.stop()


def start_dashboard(procs: Processes, node: HaNode) -> str:
    """Start the node's service and return its dashboard URL once it answers."""
    procs.start(node, "simplefailover", "run")
    wait_until(lambda: listening(node.address, node.dashboard_port), 30, f"the dashboard of {node.node_id}")
    return f"http://{node.address}:{node.dashboard_port}/"


def start_sync(procs: Processes, node: HaNode) -> None:
    procs.start(node, "clustersync", "run")
    try:
        wait_until(lambda: listening(node.address, node.data_port), 30, f"clustersync run of {node.node_id}")
    except Exception:
        raise AssertionError(log_tail(node, "clustersync")) from None


def shoot(page: Page, tmp_path: Path, name: str) -> None:
    """A full-page screenshot; also into HA_SCREENSHOTS (e.g. docs) when set."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
    folder = os.environ.get("HA_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


@pytest.mark.slow
def test_wizard_creates_a_cluster_and_joins_a_second_node(
    tmp_path: Path, browser: Browser, procs: Processes
) -> None:
    n1, n2 = make_node(tmp_path, 1), make_node(tmp_path, 2)
    with closing(sqlite3.connect(n1.db)) as db:  # the application's data on the first node
        db.executemany("INSERT INTO items (id, v) VALUES (?, ?)", [(i, f"contact {i}") for i in range(ROWS)])
        db.commit()
    url1, url2 = start_dashboard(procs, n1), start_dashboard(procs, n2)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    page1, page2 = context.new_page(), context.new_page()

    log_in_page(page1, url1)  # the HA page's actions are the administrator's (SF-11)
    log_in_page(page2, url2)
    # Node 1: from the main page to the HA page; not a member yet, so the wizard.
    page1.goto(url1)
    page1.click("#ha-link")
    expect(page1.locator("#ha-alarms tr[data-alarm=readiness]")).to_have_attribute("data-state", "red")
    create = page1.locator("#ha-create")
    create.locator(f'input[name=address][value="{n1.address}"]').check()
    create.locator("input[name=strategy][value=replicated]").check()
    shoot(page1, tmp_path, "ha-wizard.png")
    create.locator("#ha-create-submit").click()
    expect(page1.locator("#ha-job")).to_have_attribute("data-state", "done", timeout=20_000)
    expect(page1.locator("#ha-job-message")).to_contain_text(
        f"cluster created on n1 ({n1.address}): {ROWS} rows are the cluster's data"
    )
    expect(page1.locator('#ha-nodes tr[data-node="n1"]')).to_contain_text("this node")
    start_sync(procs, n1)

    # Node 2: join through node 1.
    page2.goto(url2 + "ha")
    join = page2.locator("#ha-join")
    join.locator(f'input[name=address][value="{n2.address}"]').check()
    join.locator("#ha-peer").fill(n1.peer)
    join.locator("#ha-join-submit").click()
    expect(page2.locator("#ha-job")).to_have_attribute("data-state", "done", timeout=30_000)
    expect(page2.locator("#ha-job-message")).to_contain_text(f"n2 joined through {n1.address}")
    expect(page2.locator("#ha-job-phases")).to_contain_text("transfer")
    shoot(page2, tmp_path, "ha-join.png")
    with closing(sqlite3.connect(n2.db)) as db:
        assert db.execute("SELECT count(*) FROM items").fetchone() == (ROWS,)
    start_sync(procs, n2)

    # Both pages, reloading themselves without JavaScript, see both nodes and green alarms.
    for page, local in ((page1, "n1"), (page2, "n2")):
        rows = page.locator("#ha-nodes tbody tr")
        expect(rows).to_have_count(2, timeout=20_000)
        expect(page.locator(f'#ha-nodes tr[data-node="{local}"]')).to_contain_text("this node")
        for name in ALARMS:
            expect(page.locator(f'#ha-alarms tr[data-alarm="{name}"]')).to_have_attribute(
                "data-state", "green", timeout=30_000
            )
    expect(page1.locator("#ha-last-sync")).to_contain_text("Last sync with n2")
    shoot(page1, tmp_path, "ha-page.png")

    # Replication stopped on node 2 from its page: node 2 says so, and clustersync run on
    # node 1 records the failure of its sync with n2 (CL-8 events, as mailed).
    page2.locator("#ha-service-stop").click()
    expect(page2.locator("#ha-service")).to_have_attribute("data-state", "stopped", timeout=20_000)
    expect(page1.locator("#ha-events tbody")).to_contain_text("sync with n2 failed", timeout=30_000)
    context.close()
