"""Dashboard actions need the administrator (SF-11): log in, act, see it on every instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from simplefailover.dashboard.login import admin_file_text
from tests.simplefailover.dashboard.ha_nodes import ADMIN_PASSWORD, ADMIN_TOKEN, log_in_page
from tests.simplefailover.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.simplefailover.peers.cluster import Cluster, Instance, running, wait_for

from .test_cluster_maintenance import INSTANCE_HOSTS, NODE_HOSTS, all_answer, in_maintenance

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is absent (Debian package chromium)"),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    admin = tmp_path / "admin.password"
    admin.write_text(admin_file_text(ADMIN_PASSWORD, ADMIN_TOKEN))
    group = Cluster(
        tmp_path,
        instance_hosts=INSTANCE_HOSTS,
        node_hosts=NODE_HOSTS,
        extra=f"history: {{state_dir: '{tmp_path}/state-{{member}}'}}\n",
        dashboard_extra=f", admin_password_file: '{admin}'",
    )
    with running(group):
        yield group


def url(instance: Instance) -> str:
    return f"http://{instance.host}:{instance.web_port}/"


def test_logged_in_administrator_puts_a_node_in_maintenance_seen_everywhere(cluster: Cluster) -> None:
    a, b, c = cluster.instances
    n1, n2 = (str(n.node.address) for n in cluster.nodes[:2])
    wait_for("all answering n1", lambda: all_answer(cluster, n1), 20)

    # Without a login: no form on the page, and a posted action is refused.
    refused = requests.post(url(a) + "control", data={"action": "maintenance_on", "target": "n1"}, timeout=5)
    assert refused.status_code == 401
    wrong = requests.post(
        url(a) + "api/control",
        json={"action": "maintenance_on", "target": "n1"},
        headers={"Authorization": "Bearer not-the-token"},
        timeout=5,
    )
    assert wrong.status_code == 401 and in_maintenance(a) == []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(java_script_enabled=False)
            page = context.new_page()
            page.goto(url(a))
            expect(page.locator("#login-link")).to_be_visible()
            expect(page.locator("#maintenance-form")).to_have_count(0)

            page.goto(url(a) + "login")
            page.fill("input[name=password]", "wrong password")
            page.click("#login button[type=submit]")
            expect(page.locator("#login-error")).to_have_text("wrong password")

            log_in_page(page, url(a))
            form = page.locator("#maintenance-form")
            form.locator("select[name=target]").select_option("n1")
            form.locator("input[name=reason]").fill("disk swap")
            form.locator("button[value=maintenance_on]").click()
            wait_for("all answering n2", lambda: all_answer(cluster, n2), 5)
            for instance in cluster.instances:
                other = context.new_page()
                other.goto(url(instance))
                expect(other.locator('#checks tr[data-node="n1"] .status.MAINT')).to_have_text("MAINT")
                expect(other.locator('#control tr[data-target="n1"]')).to_contain_text("disk swap")
                other.close()
        finally:
            browser.close()

    # A script with the API token: the same action, the same checks.
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    off = requests.post(
        url(c) + "api/control", json={"action": "maintenance_off", "target": "n1"}, headers=headers, timeout=5
    )
    assert off.status_code == 200 and off.json()["ok"], off.text
    wait_for("all answering n1 again", lambda: all_answer(cluster, n1), 5)
    pin = requests.post(
        url(b) + "api/control",
        json={"action": "pin", "target": "ias", "node": "n3"},
        headers=headers,
        timeout=5,
    )
    assert pin.status_code == 200, pin.text
    status = a.status()
    wait_for("the pin on a", lambda: [p["node"] for p in a.status()["pins"]] == ["n3"], 5)
    assert status["maintenance"] == [] or not status["maintenance"][0]["in_force"]
