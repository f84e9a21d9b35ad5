"""The history's API, export and command on bad and good input (Flask test client, real SQLite)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from simplefailover.config import parse_config
from simplefailover.dashboard import create_app
from simplefailover.engine import Engine
from simplefailover.history import HistoryService
from simplefailover.metrics import Metrics
from simplefailover.pollers.result import PollResult
from simplefailover.state import Status
from tests.support.cli import simplefailover as cli

NOW = 1_800_000_000.0
CONFIG = """
zone: {{name: example.test, ttl: 20}}
nodes:
  - {{id: node1, address: 127.0.24.51, priority: 10}}
  - {{id: node2, address: 127.0.24.52, priority: 5}}
pollings: [{{id: web, method: http, url: "http://{{address}}/"}}]
hostnames: [{{name: www, polling: web}}]
schedule: {{fall: 2, rise: 1}}
history: {{state_dir: {state}}}
"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    """An engine that saw node1 fail twice (a failover), its history and its dashboard."""
    config = parse_config(CONFIG.format(state=tmp_path))
    engine = Engine(config)
    metrics = Metrics()
    history = HistoryService(config, tmp_path / "history.db", metrics.registry)
    engine.subscribe(history.on_transitions)
    engine.watch_events(history.on_event)
    history.start()

    def feed(node: str, ok: bool, at: float, latency: float = 0.01) -> None:
        result = PollResult(ok, latency, "" if ok else "connection refused", at)
        metrics.observe_result(node, "web", result)  # as the daemon's poller does
        history.observe_result(node, "web", result)
        engine.record(node, "web", result)

    feed("node1", True, NOW - 600)
    feed("node2", True, NOW - 600)
    feed("node1", False, NOW - 300)
    feed("node1", False, NOW - 298)  # KO: www moves to node2
    feed("node1", True, NOW - 100)  # OK again: back to node1
    history.sent("webhook", "sent", "https://hooks.example.test/x", "[vm] web KO on node1")
    assert history.wait_written()
    app = create_app(engine, metrics, {"TESTING": True}, clock=lambda: NOW, history=history)
    try:
        yield app.test_client()
    finally:
        history.stop()


def test_events_as_json_and_csv_with_filters(client: FlaskClient) -> None:
    every = client.get("/api/history?since=1h").get_json()
    assert [e["kind"] for e in every if e["kind"] in ("check", "answer")] == [
        "check", "check", "answer", "check", "answer", "check", "answer"
    ]  # fmt: skip
    only = client.get("/api/history?since=1h&node=node1&kind=check").get_json()
    assert [(e["old"], e["new"]) for e in only] == [("UNKNOWN", "OK"), ("OK", "KO"), ("KO", "OK")]
    assert only[1]["data"]["first_result_at"] == NOW - 300  # the first failed result, not the second
    later = client.get(f"/api/history?since={NOW - 200}&until={NOW}").get_json()
    assert all(NOW - 200 <= e["at"] < NOW for e in later)
    response = client.get("/api/history?since=1h&format=csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["kind"] for r in rows if r["kind"] in ("check", "answer")] == [
        e["kind"] for e in every if e["kind"] in ("check", "answer")
    ]
    assert rows[2]["hostname"] == "www.example.test" and rows[2]["new"] == "127.0.24.51"


def test_failover_timeline_in_the_api(client: FlaskClient) -> None:
    away, back = client.get("/api/failovers?since=1h").get_json()
    assert (away["old_nodes"], away["new_nodes"], away["cause"]) == (
        ["node1"],
        ["node2"],
        "node1/web OK -> KO",
    )
    assert away["seconds"] == {"first failed check": 0, "agreed": 2, "DNS changed": 2, "caches expired": 22}
    assert back["cause"] == "node1/web KO -> OK" and back["ttl"] == 20


def test_webhook_recorded_through_the_hook(client: FlaskClient) -> None:
    [hook] = client.get("/api/history?since=0&kind=webhook").get_json()
    assert hook["new"] == "sent" and hook["data"]["target"] == "https://hooks.example.test/x"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/api/history?since=yesterday", "not a time"),
        ("/api/history?until=5x", "not a time"),
        ("/api/history?format=xml", "format must be json or csv"),
        ("/history?window=month", "window must be one of hour, day, week"),
        ("/api/failovers?since=%00", "not a time"),
    ],
)
def test_bad_input_says_what_is_wrong(client: FlaskClient, url: str, says: str) -> None:
    response = client.get(url)
    assert response.status_code == 400 and says in response.get_data(as_text=True)


def test_pages_and_metrics(client: FlaskClient) -> None:
    for window in ("hour", "day", "week"):
        assert client.get(f"/history?window={window}").status_code == 200
    page = client.get("/history?window=hour").get_data(as_text=True)
    assert 'data-hostname="www.example.test"' in page and "first failed check" in page
    assert 'id="history-link"' in client.get("/").get_data(as_text=True)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'simplefailover_check_transitions_total{node="node1",polling="web",to="KO"} 1.0' in text
    assert 'simplefailover_history_events_total{kind="answer"}' in text
    assert "simplefailover_poll_latency_seconds_bucket" in text
    # per node, from the history thread: node1 had two good results of 10 ms
    assert 'simplefailover_check_latency_seconds_bucket{le="0.01",node="node1",polling="web"} 2.0' in text


def test_without_history_the_page_says_so(tmp_path: Path) -> None:
    engine = Engine(parse_config(CONFIG.format(state=tmp_path)))
    client = create_app(engine, Metrics(), {"TESTING": True}).test_client()
    response = client.get("/history")
    assert response.status_code == 404 and "history is off" in response.get_data(as_text=True)


def test_events_command_on_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(state=tmp_path / "none"))
    missing = cli("events", "-c", str(path))
    assert missing.returncode == 1 and "no history at" in missing.stderr
    bad = cli("events", "-c", str(path), "--since", "last tuesday")
    assert bad.returncode == 2 and "not a time" in bad.stderr


def test_an_unusable_history_file_leaves_the_service_running(tmp_path: Path) -> None:
    (tmp_path / "history.db").write_bytes(b"this is not SQLite, " * 500)
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(state=tmp_path))
    listed = cli("events", "-c", str(path))
    assert listed.returncode == 1 and "file is not a database" in listed.stderr
    config = parse_config(CONFIG.format(state=tmp_path))
    for where in (tmp_path / "history.db", tmp_path / "history.db" / "inside-a-file.db"):
        engine = Engine(config)
        history = HistoryService(config, where)
        engine.subscribe(history.on_transitions)
        history.start()  # logs why, records nothing
        try:
            assert not history.running
            engine.record("node1", "web", PollResult(True, 0.01, "", NOW))  # polls go on
            state = engine.check_state("node1", "web")
            assert state is not None and state.status is Status.OK
            client = create_app(engine, Metrics(), {"TESTING": True}, history=history).test_client()
            assert client.get("/").status_code == 200
            assert client.get("/history").status_code == 404
        finally:
            history.stop()
    assert (tmp_path / "history.db").read_bytes().startswith(b"this is not SQLite")  # left as it was
