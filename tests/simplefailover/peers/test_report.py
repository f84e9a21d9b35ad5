"""The dashboard with peers: each instance's view beside the agreed state, and why."""

from __future__ import annotations

import time

from simplefailover.dashboard import create_app
from simplefailover.metrics import Metrics
from simplefailover.state import Status

from .test_engine import make_engine, peer, result


def test_page_and_api_show_every_view_and_the_agreed_state() -> None:
    now = time.time()
    engine = make_engine()
    engine.receive_view(peer("a", Status.KO, now))
    engine.record("n1", "p", result(False, now))
    engine.record("n2", "p", result(True, now))
    client = create_app(engine, Metrics(), clock=lambda: now).test_client()

    data = client.get("/api/status").get_json()
    peers = data["peers"]
    assert (peers["me"], peers["basis"], peers["isolated"], peers["sender"]) == ("b", "agreed", False, "a")
    assert peers["agreed"]["n1/p"] == {"status": "KO", "why": "KO for 2 of 2 instances (a, b)"}
    views = {v["member"]: v for v in peers["views"]}
    assert views["a"]["statuses"] == {"n1/p": "KO", "n2/p": "OK"} and views["a"]["heard"]
    assert not views["c"]["heard"] and views["c"]["age"] is None
    assert data["hostnames"][0]["addresses"] == ["127.0.0.94"]

    page = client.get("/").get_data(as_text=True)
    assert 'id="peers"' in page and "KO for 2 of 2 instances (a, b)" in page
    assert "not heard" in page and "is isolated" not in page

    later = now + 60  # a and c silent: b is isolated, and keeps n2 (it sees n2 OK itself)
    engine.tick(later)
    client = create_app(engine, Metrics(), clock=lambda: later).test_client()
    data = client.get("/api/status").get_json()
    peers = data["peers"]
    assert peers["isolated"] and peers["basis"] == "kept" and peers["sender"] == "b"
    # the answer's why and the agreed statuses come from the same verdict
    assert peers["agreed"]["n1/p"] == {"status": "KO", "why": "KO for 1 of 1 instances (b)"}
    reason = data["hostnames"][0]["reason"]
    assert reason.startswith("n2 is the highest-priority node whose p is OK; kept from the last agreement")
    page = client.get("/").get_data(as_text=True)
    assert "This instance (b) is isolated" in page and "Without a witness" in page
