"""The High Availability page through Flask's test client, on real clustersync databases.

Every action runs the real clustersync code (clustersync.api's create and join, as the CLI) on
SQLite files under tmp_path; the join goes to a real member (clustersync's Node serving
its control port on 127.0.0.150).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from clustersync.core.events import Event
from clustersync.ops import event_log
from clustersync.sync.daemon import Node
from simplefailover.config import load_config
from simplefailover.dashboard import create_app
from simplefailover.dashboard.ha import KEY as HA_STATE
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from tests.support.bind import wait_until

from .conftest import table_rows
from .ha_nodes import HaNode, form_token, log_in, make_node

ACTIONS = ("/ha/create", "/ha/join", "/ha/service", "/ha/remove")


def app_for(node: HaNode) -> Flask:
    """The dashboard app of a node, as the service builds it."""
    return create_app(Engine(load_config(node.config)), Metrics(), {"TESTING": True})


def meta(db: Path, key: str) -> str | None:
    """A clustersync meta value read over a plain connection."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT value FROM _cs_meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


def token(client: FlaskClient) -> str:
    page = client.get("/ha")
    assert page.status_code == 200
    return form_token(page.get_data(as_text=True))


def job_state(client: FlaskClient) -> str:
    html = client.get("/ha").get_data(as_text=True)
    for state in ("running", "done", "failed"):
        if f'data-state="{state}"' in html and 'id="ha-job"' in html:
            return state
    return "none"


def wait_job(client: FlaskClient) -> str:
    """Wait for the page's background action to finish; its page."""
    wait_until(lambda: job_state(client) in ("done", "failed"), 30, "the HA action to finish")
    return client.get("/ha").get_data(as_text=True)


@pytest.fixture
def node1(tmp_path: Path) -> HaNode:
    return make_node(tmp_path, 1)


@pytest.fixture
def client1(node1: HaNode) -> FlaskClient:
    return log_in(app_for(node1).test_client())


def test_main_page_links_the_ha_page(client1: FlaskClient) -> None:
    html = client1.get("/").get_data(as_text=True)
    assert 'href="/ha" id="ha-link"' in html


def test_without_cluster_section_the_page_explains_the_setup(tmp_path: Path) -> None:
    node = make_node(tmp_path, 1, cluster=False)
    client = log_in(app_for(node).test_client())
    page = client.get("/ha")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "No cluster configured" in html and "has no <code>cluster:</code> section" in html
    assert 'value="127.0.0.1"' in html  # the host's loopback address is offered
    sent = client.post(
        "/ha/create", data={"csrf_token": form_token(html), "address": "127.0.0.1", "strategy": "replicated"}
    )
    text = sent.get_data(as_text=True)
    assert sent.status_code == 400
    assert "has no cluster: section yet" in text
    assert "address: &#34;127.0.0.1&#34;" in text and "strategy: replicated" in text  # the lines to add


def test_not_a_member_shows_the_wizard_and_why_not_ready(client1: FlaskClient, node1: HaNode) -> None:
    html = client1.get("/ha").get_data(as_text=True)
    assert 'id="ha-create"' in html and 'id="ha-join"' in html
    assert f'value="{node1.address}" checked' in html
    [readiness, activity, _] = table_rows(html, "ha-alarms")
    assert readiness.attrs["data-state"] == "red" and "not a member" in readiness.cells[2]
    assert activity.attrs["data-state"] == "red"
    assert "http-equiv" not in html  # the wizard's page does not reload under the user's typing


@pytest.mark.parametrize(
    "form, cookie",
    [
        ({}, True),  # no token
        ({"csrf_token": "0" * 64}, True),  # a wrong token
        ({"csrf_token": None}, False),  # the page's token, sent without the browser's cookie
    ],
)
def test_action_without_the_right_token_is_refused(
    client1: FlaskClient, node1: HaNode, form: dict[str, str | None], cookie: bool
) -> None:
    good = token(client1)
    data = {"address": node1.address, "strategy": "replicated", **form}
    if data.get("csrf_token", "") is None:
        data["csrf_token"] = good
    if not cookie:
        client1.delete_cookie("sf_ha", path="/ha")
    for path in ACTIONS:
        sent = client1.post(path, data={**data, "peer": "127.0.0.151", "action": "stop", "node": "n1"})
        assert sent.status_code == 403
        assert "security token is missing or wrong" in sent.get_data(as_text=True)
    assert meta(node1.db, "member") is None  # nothing was done


def test_form_from_another_origin_is_refused(client1: FlaskClient, node1: HaNode) -> None:
    data = {"csrf_token": token(client1), "address": node1.address, "strategy": "replicated"}
    sent = client1.post("/ha/create", data=data, headers={"Origin": "http://evil.example"})
    assert sent.status_code == 403
    assert "not from http://evil.example" in sent.get_data(as_text=True)


@pytest.mark.parametrize("method, path", [("GET", "/ha"), *(("POST", path) for path in ACTIONS)])
def test_other_hosts_and_spoofed_names_are_refused(
    client1: FlaskClient, node1: HaNode, method: str, path: str
) -> None:
    data = {"csrf_token": token(client1), "address": node1.address, "strategy": "replicated"}
    data.update(action="stop", node="n1", peer="127.0.0.151")
    remote = client1.open(path, method=method, data=data, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert remote.status_code == 403 and "local host only" in remote.get_data(as_text=True)
    spoofed = client1.open(path, method=method, data=data, headers={"Host": "rebind.evil.example"})
    assert spoofed.status_code == 403 and "use http://localhost" in spoofed.get_data(as_text=True)
    assert meta(node1.db, "member") is None
    assert not (node1.folder / "state" / "replication.stopped").exists()


def test_create_with_another_address_or_strategy_says_what_to_change(
    client1: FlaskClient, node1: HaNode
) -> None:
    sent = client1.post(
        "/ha/create", data={"csrf_token": token(client1), "address": "127.0.0.1", "strategy": "shared"}
    )
    text = sent.get_data(as_text=True)
    assert sent.status_code == 400
    assert f"cluster.address in {node1.config} is {node1.address}, not 127.0.0.1" in text
    assert "cluster.strategy" in text and "is replicated, not shared" in text
    assert meta(node1.db, "member") is None


def test_create_makes_this_node_the_first_member(client1: FlaskClient, node1: HaNode) -> None:
    form = {"csrf_token": token(client1), "address": node1.address, "strategy": "replicated"}
    sent = client1.post("/ha/create", data=form)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/ha")
    html = wait_job(client1)
    assert 'data-state="done"' in html and "cluster created on n1 (127.0.0.150)" in html
    assert meta(node1.db, "member") == "1"
    assert (node1.folder.parent / "cluster.secret").exists()
    [row] = table_rows(html, "ha-nodes")
    assert row.cells[:5] == ["1", "n1", node1.address, row.cells[3], "replicated"]
    assert row.cells[5] == "this node"
    assert 'id="ha-create"' not in html  # a member gets no wizard
    # The same form again (an old tab) is refused by clustersync itself, and the page says why.
    assert client1.post("/ha/create", data=form).status_code == 303
    html = wait_job(client1)
    assert 'data-state="failed"' in html and "already a member of cluster" in html


@pytest.fixture
def member(node1: HaNode, client1: FlaskClient) -> Iterator[Node]:
    """Node 1 created through its page, serving as a real member (control and data ports)."""
    client1.post(
        "/ha/create", data={"csrf_token": token(client1), "address": node1.address, "strategy": "replicated"}
    )
    assert 'data-state="done"' in wait_job(client1)
    db = sqlite3.connect(node1.db)
    db.executemany("INSERT INTO items (id, v) VALUES (?, ?)", [(i, f"row {i}") for i in range(50)])
    db.commit()
    db.close()
    running = Node(load_config(node1.config))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_join_copies_the_members_data_and_lists_both_nodes(tmp_path: Path, member: Node) -> None:
    node2 = make_node(tmp_path, 2)
    client2 = log_in(app_for(node2).test_client())
    sent = client2.post(
        "/ha/join", data={"csrf_token": token(client2), "address": node2.address, "peer": member_peer(member)}
    )
    assert sent.status_code == 303
    html = wait_job(client2)
    assert 'data-state="done"' in html, html
    assert "n2 joined through 127.0.0.150" in html
    # clustersync reported the join's progress to the page, phase by phase.
    phases = re.search(r'id="ha-job-phases">([^<]*)<', html)
    assert phases is not None
    steps = phases.group(1).split(" → ")
    assert steps[0] == "connect" and steps[-1] == "done" and "transfer" in steps, steps
    assert meta(node2.db, "member") == "1"
    db = sqlite3.connect(node2.db)
    assert db.execute("SELECT count(*) FROM items").fetchone() == (50,)
    db.close()
    rows = table_rows(html, "ha-nodes")
    assert [(r.cells[1], r.cells[2], r.cells[5]) for r in rows] == [
        ("n1", "127.0.0.150", ""),
        ("n2", "127.0.0.151", "this node"),
    ]


def member_peer(member: Node) -> str:
    return f"{member.cluster.address}:{member.cluster.port}"


def test_join_problems_are_shown(tmp_path: Path, client1: FlaskClient) -> None:
    node2 = make_node(tmp_path, 2)
    client2 = log_in(app_for(node2).test_client())
    missing = client2.post("/ha/join", data={"csrf_token": token(client2), "address": node2.address})
    assert missing.status_code == 400
    assert "give the address of a member" in missing.get_data(as_text=True)
    # Nobody listens there: the join fails in the background and the page says where.
    (node2.folder.parent / "cluster.secret").write_text("x" * 64 + "\n")
    client2.post(
        "/ha/join", data={"csrf_token": token(client2), "address": node2.address, "peer": "127.0.0.159:9"}
    )
    html = wait_job(client2)
    assert 'data-state="failed"' in html and "127.0.0.159 port 9" in html  # clustersync's own message
    assert meta(node2.db, "member") is None


def test_running_member_page_reloads_and_shows_sync_events(client1: FlaskClient, member: Node) -> None:
    member.run_round()  # alone in the ring: a round records the status the page reads
    deadline = time.monotonic() + 10
    html = client1.get("/ha").get_data(as_text=True)
    while "No status from" in html and time.monotonic() < deadline:
        html = client1.get("/ha").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="1">' in html
    assert "Last status from <code>clustersync run</code>" in html
    [readiness, _, alignment] = table_rows(html, "ha-alarms")
    assert readiness.attrs["data-state"] == "green" and alignment.attrs["data-state"] == "green"


def test_replication_service_stops_and_starts(client1: FlaskClient, node1: HaNode, member: Node) -> None:
    html = client1.get("/ha").get_data(as_text=True)
    assert 'id="ha-service" data-state="started"' in html
    form = {"csrf_token": form_token(html), "action": "stop"}
    assert client1.post("/ha/service", data=form).status_code == 303
    html = wait_job(client1)
    assert 'data-state="done"' in html and "replication stopped on n1" in html
    assert 'id="ha-service" data-state="stopped"' in html and 'id="ha-service-start"' in html
    assert client1.post("/ha/service", data={**form, "action": "start"}).status_code == 303
    html = wait_job(client1)
    assert "replication started on n1" in html and 'id="ha-service" data-state="started"' in html
    bad = client1.post("/ha/service", data={**form, "action": "restart"})
    assert bad.status_code == 400 and "action must be start or stop" in bad.get_data(as_text=True)


def test_remove_a_member_from_the_page(tmp_path: Path, client1: FlaskClient, member: Node) -> None:
    node2 = make_node(tmp_path, 2)
    client2 = log_in(app_for(node2).test_client())
    client2.post(
        "/ha/join", data={"csrf_token": token(client2), "address": node2.address, "peer": member_peer(member)}
    )
    assert 'data-state="done"' in wait_job(client2)
    html = client1.get("/ha").get_data(as_text=True)
    assert [r.cells[1] for r in table_rows(html, "ha-nodes")] == ["n1", "n2"]
    assert client1.post("/ha/remove", data={"csrf_token": form_token(html), "node": "n2"}).status_code == 303
    html = wait_job(client1)
    assert 'data-state="done"' in html and "n2 removed from the cluster" in html
    assert [r.cells[1] for r in table_rows(html, "ha-nodes")] == ["n1"]
    # The last member cannot be removed: clustersync says why, the page shows it.
    client1.post("/ha/remove", data={"csrf_token": form_token(html), "node": "n1"})
    html = wait_job(client1)
    assert 'data-state="failed"' in html and "is the only member" in html


def test_page_shows_the_recent_cluster_events_newest_first(client1: FlaskClient, node1: HaNode) -> None:
    assert 'id="ha-no-events"' in client1.get("/ha").get_data(as_text=True)
    state = node1.folder / "state"  # cluster.state_dir, where clustersync run records them
    event_log.record(state, Event("failover", "[n1] failover", "syncing with n3 instead of n2\n\nNode:"), 1.0)
    event_log.record(state, Event("failback", "[n1] failback", "syncing with the successor n2 again"), 2.0)
    rows = table_rows(client1.get("/ha").get_data(as_text=True), "ha-events")
    assert [(r.attrs["data-kind"], r.cells[2]) for r in rows] == [
        ("failback", "syncing with the successor n2 again"),
        ("failover", "syncing with n3 instead of n2"),
    ]


def test_shared_strategy_with_the_database_down_says_why(tmp_path: Path) -> None:
    node = make_node(tmp_path, 1, cluster=False)
    with node.config.open("a") as file:
        # Nothing listens on port 1 of 127.0.0.159: the database is unreachable.
        file.write(
            'cluster: {node_id: n1, address: "127.0.0.150", strategy: shared, timeout: 1,\n'
            '  dsn: "host=127.0.0.159 port=1 dbname=app user=ha", state_dir: state}\n'
        )
    html = app_for(node).test_client().get("/ha").get_data(as_text=True)
    assert 'id="ha-database" data-state="red"' in html and "not reachable" in html
    assert "127.0.0.159" in html
    assert 'id="ha-strategy">shared<' in html
    [readiness, _, _] = table_rows(html, "ha-alarms")
    assert readiness.attrs["data-state"] == "red"
    assert "no data is copied" in html  # the join step says what shared means


def test_while_an_action_runs_the_page_shows_its_progress_and_reloads(node1: HaNode) -> None:
    app = app_for(node1)
    client = log_in(app.test_client())
    form = {"csrf_token": token(client), "address": node1.address, "strategy": "replicated"}
    jobs = app.extensions[HA_STATE].jobs
    assert jobs.begin("join") is not None
    jobs.step("transfer 1.0 / 4.0 MB 50.0 MB/s ETA 0 s", 1_000_000, 4_000_000, "transfer")
    html = client.get("/ha").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="1">' in html
    assert 'data-state="running"' in html
    assert 'id="ha-job-step">transfer 1.0 / 4.0 MB' in html
    assert '<progress id="ha-job-progress" max="4000000" value="1000000">' in html and "25 %" in html
    assert 'id="ha-wizard"' not in html and 'id="ha-alarms"' not in html  # the database is left alone
    sent = client.post("/ha/create", data=form)  # from a tab opened before
    assert sent.status_code == 409 and "another action is still running" in sent.get_data(as_text=True)
    jobs.finish(False, "join through 127.0.0.150 port 1 failed: refused")
    html = client.get("/ha").get_data(as_text=True)
    assert 'data-state="failed"' in html and "Steps: transfer" in html and 'id="ha-wizard"' in html


def test_page_lists_the_conflicts_waiting_for_acknowledgement(client1: FlaskClient, member: Node) -> None:
    from clustersync.core.merge import Lost
    from clustersync.store import conflicts

    lost = Lost("insert", None, (5, "n2"), {"id": 7, "v": "bob"}, (6, "n1"), {"id": 7, "v": "alice"})
    with member.ctx.lock:
        db = member.store.db
        db.execute("BEGIN IMMEDIATE")
        conflicts.record(db, "items", "[7]", [lost])
        db.execute("COMMIT")
    [row] = table_rows(client1.get("/ha").get_data(as_text=True), "ha-conflicts")
    text = " ".join(row.cells)
    assert row.cells[3] == "insert collision" and "bob" in text and "alice" in text
