"""A real `simplefailover run` keeps its history across a restart (SPEC SF-6).

Node 1 is stopped while the service runs: the check transitions, the answer change and
the mail sent are on disk; the service is stopped and started again, and both
`simplefailover events` (another process) and the dashboard's /history page still list
and draw what happened before the restart.
"""

from __future__ import annotations

import re

from simplefailover.demo.procs import wait_until
from tests.support.cli import simplefailover as cli

from .conftest import NODES, Service


def kinds(events: list[dict[str, object]]) -> set[object]:
    return {e["kind"] for e in events}


def test_events_before_a_restart_are_listed_and_drawn(service: Service) -> None:
    service.start()
    wait_until(
        lambda: sum(e["new"] == "OK" for e in service.events("--kind", "check")) == 4,
        20,
        "four checks OK on disk",
        service.child,
    )
    service.nodes["node1"].stop()

    def moved() -> bool:
        return any(e["new"] == NODES["node2"] for e in service.events("--kind", "answer"))

    wait_until(moved, 30, "www to move to node2 on disk", service.child)
    wait_until(lambda: any(e["new"] == "sent" for e in service.events("--kind", "mail")), 30, "a mail sent")
    before = service.events()
    ko = [e for e in before if e["kind"] == "check" and e["node"] == "node1" and e["new"] == "KO"]
    assert {e["polling"] for e in ko} == {"web", "sip"}
    # The failover timeline's first step: the first failed result came before the agreed KO.
    assert all(e["data"]["first_result_at"] <= e["at"] for e in ko)
    failover = [e for e in before if e["kind"] == "answer" and e["new"] == NODES["node2"]]
    assert failover and failover[0]["data"]["cause"]["node"] == "node1"
    assert failover[0]["data"]["old_nodes"] == ["node1"] and failover[0]["data"]["nodes"] == ["node2"]

    service.stop()
    stopped = service.events()  # read with the service stopped: nothing lost at stop
    assert stopped[: len(before)] == before and stopped[-1]["kind"] == "service"
    before = stopped
    service.start()
    wait_until(lambda: len(service.events()) > len(before), 20, "new events after the restart")
    after = service.events()
    assert after[: len(before)] == before

    only_node1 = service.events("--node", "node1")
    assert only_node1 and all(e["node"] == "node1" for e in only_node1)
    listing = cli("events", "-c", str(service.path), "--since", "1h")
    assert f"{NODES['node1']} -> {NODES['node2']}" in listing.stdout  # the plain listing too
    assert [e["new"] for e in after if e["kind"] == "service"] == ["started", "stopped", "started"]

    status, page = service.get("/history?window=hour")
    assert status == 200, page
    row = re.search(r'<tr data-node="node1" data-polling="web">(.*?)</tr>', page, re.S)
    assert row is not None
    band = row.group(1)
    assert 'class="ok"' in band and 'class="ko"' in band  # drawn from before the restart
    assert 'data-hostname="www.example.test"' in page  # the failover timeline
    status, failovers = service.get("/api/failovers")
    assert status == 200 and '"first failed check"' in failovers and '"caches expired"' in failovers
