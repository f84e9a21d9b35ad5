"""The dashboard with peers: each instance's view beside the agreed state, and why."""

from __future__ import annotations

import time

from simplefailover.config import parse_config
from simplefailover.dashboard import create_app
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.state import Status

from .test_engine import CONFIG, make_engine, peer, result


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


def test_the_witness_is_marked_and_its_tie_named() -> None:
    now = time.time()
    text = CONFIG.replace("ISOLATION", "keep_last").replace(
        '{id: c, address: "127.0.0.92:1"}', '{id: c, address: "127.0.0.92:1", role: witness}'
    )
    engine = Engine(parse_config(text))
    engine.receive_view(peer("c", Status.OK, now))  # the witness sees n1 OK, b sees it KO: a tie
    engine.record("n1", "p", result(False, now))
    engine.record("n2", "p", result(True, now))
    client = create_app(engine, Metrics(), clock=lambda: now).test_client()
    data = client.get("/api/status").get_json()
    peers = data["peers"]
    assert peers["witness"] == "c" and peers["basis"] == "witness" and peers["split"] is None
    assert (
        peers["agreed"]["n1/p"]["why"]
        == "OK: a tie of 2 instances broken by the witness c (b saw it otherwise)"
    )
    assert data["hostnames"][0]["addresses"] == ["127.0.0.93"] and data["hostnames"][0]["basis"] == "witness"
    assert "the witness c breaking a tie" in data["hostnames"][0]["reason"]
    page = client.get("/").get_data(as_text=True)
    assert "c (witness)" in page
    engine.tick(now + 60)  # nobody heard: b alone, the witness unheard too
    peers = (
        create_app(engine, Metrics(), clock=lambda: now + 60)
        .test_client()
        .get("/api/status")
        .get_json()["peers"]
    )
    assert peers["isolated"] and peers["split"].startswith("the witness is not heard either")
