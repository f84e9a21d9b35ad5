"""Every route through Flask's test client, with an engine fed real PollResults."""

from __future__ import annotations

import re
import time

import pytest
from flask.testing import FlaskClient

from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.state import Transition

from .conftest import CONFIG, SECRET, feed_all, ko, make_config, ok, table_rows


def test_healthz_is_503_until_the_first_round_of_polls(client: FlaskClient, engine: Engine) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "waiting for the first round" in response.text
    engine.record("node1", "web", ok())
    assert client.get("/healthz").status_code == 503  # one check of four is not a round
    feed_all(engine)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.text == f"ok: serial {engine.table.serial}\n"


def test_page_before_any_result_shows_unknown_and_not_ready(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'id="not-ready"' in response.text
    statuses = [row.cells[6] for row in table_rows(response.text, "checks")]
    assert statuses == ["UNKNOWN"] * 4


def test_page_shows_zone_dns_and_one_row_per_check(client: FlaskClient, engine: Engine) -> None:
    feed_all(engine, down={("node1", "sip")})
    html = client.get("/").text
    assert '<span class="zone" id="zone">example.test</span>' in html
    assert f'<b id="serial">{engine.table.serial}</b>' in html
    assert 'id="not-ready"' not in html
    dns = {row.attrs["data-fqdn"]: row.cells for row in table_rows(html, "dns")}
    # name, address, node, TTL (ko_ttl while a node of the name is KO), polling, why
    assert dns["ias1.example.test"][:5] == ["ias1.example.test", "127.0.0.41", "node1", "30 s", "web"]
    assert dns["ias2.example.test"][:5] == ["ias2.example.test", "127.0.0.42", "node2", "5 s", "sip"]
    checked = time.strftime("%H:%M:%S", time.localtime(1000.0)) + " 10 s ago"  # the clock says 1010
    rows = [row.cells[:8] for row in table_rows(html, "checks")]
    assert rows == [
        ["10", "node1", "127.0.0.41", "web", "http", "ias1", "OK", checked],
        ["5", "node2", "127.0.0.42", "web", "http", "ias1", "OK", checked],
        ["10", "node1", "127.0.0.41", "sip", "tcp", "ias2", "KO", checked],
        ["5", "node2", "127.0.0.42", "sip", "tcp", "ias2", "OK", checked],
    ]
    last = table_rows(html, "checks")[2].cells
    assert last[8:] == ["3.0 ms", "-", "connection refused"]  # no certificate on a tcp check


def test_page_refreshes_itself_without_javascript(client: FlaskClient) -> None:
    html = client.get("/").text
    assert '<meta http-equiv="refresh" content="7">' in html
    assert "<script" not in html


def test_all_down_hostname_stands_out(client: FlaskClient, engine: Engine) -> None:
    feed_all(engine, down={("node1", "sip"), ("node2", "sip")})
    html = client.get("/").text
    assert re.search(r'<p class="alert" data-alldown="ias2.example.test"><b>All nodes down', html)
    rows = {row.attrs["data-fqdn"]: row for row in table_rows(html, "dns")}
    assert rows["ias2.example.test"].attrs.get("class") == "alldown"
    assert rows["ias2.example.test"].cells[1] == "(no address)"  # when_all_down: none
    assert "class" not in rows["ias1.example.test"].attrs


def test_events_are_listed_newest_first(client: FlaskClient, engine: Engine) -> None:
    feed_all(engine, at=1000.0)
    engine.record("node1", "web", ko(at=1001.0, error="HTTP 503"))
    engine.record("node1", "web", ko(at=1002.0, error="HTTP 503"))
    engine.add_event(Transition("mail_failed", 1003.0, "", "failed", "SMTP 127.0.0.1:25 refused"))
    rows = table_rows(client.get("/").text, "events")
    kinds = [row.attrs["data-kind"] for row in rows]
    assert kinds[:3] == ["mail_failed", "answer", "check"]
    assert rows[0].attrs["class"] == "bad"
    assert rows[1].cells[2:4] == ["ias1.example.test", "127.0.0.41 → 127.0.0.42"]
    assert rows[2].cells[2:] == ["node1/web", "OK → KO", "HTTP 503 (2 consecutive failures)"]


def test_error_text_from_a_node_is_escaped(client: FlaskClient, engine: Engine) -> None:
    feed_all(engine)
    engine.record("node2", "web", ko(error="body lacks <script>alert(1)</script>"))
    html = client.get("/").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_api_status_has_the_same_data(client: FlaskClient, engine: Engine) -> None:
    engine.record("node1", "web", ok(latency=0.0125))
    data = client.get("/api/status").get_json()
    assert data["ready"] is False
    assert {c["status"] for c in data["checks"]} == {"OK", "UNKNOWN"}
    feed_all(engine, down={("node1", "sip")})
    response = client.get("/api/status")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert list(data) == [
        "zone", "serial", "ready", "generated_at", "ttl", "ko_ttl", "hostnames", "nodes", "checks", "events",
        "maintenance", "pins",
    ]  # fmt: skip
    assert (data["maintenance"], data["pins"]) == ([], [])
    assert (data["zone"], data["serial"], data["ready"]) == ("example.test", engine.table.serial, True)
    assert data["hostnames"][1] == {
        "name": "ias2",
        "fqdn": "ias2.example.test",
        "polling": "sip",
        "when_all_down": "none",
        "addresses": ["127.0.0.42"],
        "nodes": ["node2"],
        "all_down": False,
        "reason": "node2 is the highest-priority node whose sip is OK",
        "basis": None,  # alone: no peers
        "ttl": 5,
    }
    assert data["nodes"] == [
        {
            "id": "node1",
            "address": "127.0.0.41",
            "priority": 10,
            "maintenance": False,
            "status": {"web": "OK", "sip": "KO"},
        },
        {
            "id": "node2",
            "address": "127.0.0.42",
            "priority": 5,
            "maintenance": False,
            "status": {"web": "OK", "sip": "OK"},
        },
    ]
    check = data["checks"][2]
    assert check == {
        "node": "node1",
        "address": "127.0.0.41",
        "priority": 10,
        "polling": "sip",
        "method": "tcp",
        "hostnames": ["ias2.example.test"],
        "serving": [],
        "status": "KO",
        "since": "1970-01-01T00:16:40.000Z",
        "last_check": "1970-01-01T00:16:40.000Z",
        "latency_ms": 3.0,
        "error": "connection refused",
        "consecutive_successes": 0,
        "consecutive_failures": 1,
        "cert_expires_at": None,
        "cert_days_left": None,
        "maintenance": False,
    }
    assert data["events"][0]["kind"] == "answer"  # newest first: answers follow the checks
    assert data["events"][-1] == {
        "at": "1970-01-01T00:16:40.000Z",
        "kind": "check",
        "old": "UNKNOWN",
        "new": "OK",
        "reason": "first check",
        "node": "node1",
        "polling": "web",
        "hostname": None,
    }


def test_api_status_events_limit(client: FlaskClient, engine: Engine) -> None:
    feed_all(engine)
    assert len(client.get("/api/status").get_json()["events"]) == len(engine.snapshot().events)
    assert len(client.get("/api/status?events=2").get_json()["events"]) == 2
    assert client.get("/api/status?events=0").get_json()["events"] == []
    assert client.get("/api/status?events=-1").status_code == 400


def test_metrics_in_prometheus_text_format(client: FlaskClient, engine: Engine, metrics: Metrics) -> None:
    engine.subscribe(lambda transitions: metrics.observe_transitions(transitions, engine.table))
    metrics.add_dns_counts(lambda: {"NOERROR": 7, "NXDOMAIN": 2})
    metrics.observe_result("node1", "web", ko())
    feed_all(engine, down={("node1", "web")})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = response.text
    assert 'simplefailover_poll_results_total{node="node1",polling="web",status="KO"} 1.0' in text
    assert 'simplefailover_poll_latency_seconds_count{polling="web"} 1.0' in text
    assert 'simplefailover_check_up{node="node1",polling="web"} 0.0' in text
    assert 'simplefailover_check_up{node="node2",polling="web"} 1.0' in text
    assert 'simplefailover_answer_changes_total{hostname="ias1.example.test"} 1.0' in text
    assert 'simplefailover_dns_queries_total{rcode="NXDOMAIN"} 2.0' in text
    assert f"simplefailover_soa_serial {float(engine.table.serial)}" in text


@pytest.mark.parametrize("route", ["/", "/api/status", "/metrics", "/healthz"])
def test_smtp_password_is_never_shown(client: FlaskClient, engine: Engine, route: str) -> None:
    feed_all(engine)
    response = client.get(route)
    assert response.status_code == 200
    assert SECRET not in response.text


@pytest.mark.parametrize("route", ["/", "/api/status", "/metrics", "/healthz"])
def test_pages_are_not_framed_cached_or_sniffed(client: FlaskClient, route: str) -> None:
    headers = client.get(route).headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_page_follows_a_reload_of_the_config(client: FlaskClient, engine: Engine) -> None:
    feed_all(engine)
    config = engine.config
    engine.reconfigure(
        config.model_copy(update={"dashboard": config.dashboard.model_copy(update={"refresh": 3})})
    )
    assert '<meta http-equiv="refresh" content="3">' in client.get("/").text


def test_metrics_forget_checks_removed_by_a_reload(
    client: FlaskClient, engine: Engine, metrics: Metrics
) -> None:
    engine.subscribe(lambda transitions: metrics.observe_transitions(transitions, engine.table))
    feed_all(engine, down={("node1", "web")})
    smaller = make_config(CONFIG.replace("  - {id: node2, address: 127.0.0.42, priority: 5}\n", ""))
    engine.reconfigure(smaller)
    metrics.follow_config(engine.snapshot().checks)
    lines = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("simplefailover_check_up{")
    ]
    assert sorted(lines) == [
        'simplefailover_check_up{node="node1",polling="sip"} 1.0',
        'simplefailover_check_up{node="node1",polling="web"} 0.0',
    ]
