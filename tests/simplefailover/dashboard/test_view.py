"""The pure view: rows, TTL in force and ordering, from any sequence of results."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simplefailover.dashboard.pages import ago
from simplefailover.dashboard.view import as_json, build_view, iso_time, ttl_in_force
from simplefailover.engine import Engine
from simplefailover.pollers.result import PollResult
from simplefailover.state import Transition

from .conftest import CONFIG, make_config

PAIRS = [(n, p) for p in ("web", "sip") for n in ("node1", "node2")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PAIRS), st.booleans()), max_size=30))
def test_view_matches_the_engine_for_any_results(results: list[tuple[tuple[str, str], bool]]) -> None:
    engine = Engine(make_config())
    for at, ((node, polling), good) in enumerate(results, start=1):
        engine.record(node, polling, PollResult(good, 0.001, "" if good else "refused", float(at)))
    snapshot = engine.snapshot()
    view = build_view(snapshot, now=100.0, events=None)
    assert [(c.node_id, c.polling_id) for c in view.checks] == PAIRS
    for row in view.checks:
        assert row.status == snapshot.checks[(row.node_id, row.polling_id)].status.value
        # a node serves a name only if DNS answers its address for that name
        for fqdn in row.serving:
            assert row.address in snapshot.table.answers[fqdn].addresses
    for h in view.hostnames:
        answer = snapshot.table.answers[h.fqdn]
        assert (h.addresses, h.all_down) == (answer.addresses, answer.all_down)
    assert [e.at for e in view.events] == sorted((e.at for e in view.events), reverse=True)
    assert len(view.events) == len(snapshot.events)
    assert sum(view.counts.values()) == len(PAIRS)
    assert as_json(view)["ready"] == snapshot.table.ready


@pytest.mark.parametrize(
    ("ko_ttl", "down", "expected"),
    [
        (None, [("node1", "sip")], 30),  # no ko_ttl: always the zone TTL
        ("5", [], 30),
        ("5", [("node1", "sip")], 5),
        ("5", [("node1", "web")], 30),  # a KO under another polling does not count
    ],
)
def test_ttl_in_force(ko_ttl: str | None, down: list[tuple[str, str]], expected: int) -> None:
    text = CONFIG.replace("ko_ttl: 5", f"ko_ttl: {ko_ttl}") if ko_ttl else CONFIG.replace(", ko_ttl: 5", "")
    engine = Engine(make_config(text))
    for node, polling in PAIRS:
        engine.record(node, polling, PollResult((node, polling) not in down, 0.001, "", 1.0))
    assert ttl_in_force(engine.config, engine.snapshot().checks, "sip") == expected


def test_page_event_limit_keeps_the_newest() -> None:
    engine = Engine(make_config())
    for at in range(1, 80):
        engine.add_event(Transition("mail_sent", float(at), "", "sent", f"mail {at}"))
    view = build_view(engine.snapshot(), now=100.0)
    assert [e.reason for e in view.events] == [f"mail {at}" for at in range(79, 29, -1)]


@pytest.mark.parametrize(
    ("at", "expected"),
    [(None, None), (0.0, "1970-01-01T00:00:00.000Z"), (1.5, "1970-01-01T00:00:01.500Z")],
)
def test_iso_time(at: float | None, expected: str | None) -> None:
    assert iso_time(at) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0 s ago"), (59, "59 s ago"), (60, "1 min ago"), (7200, "2 h ago"), (-5, "0 s ago")],
)
def test_ago(seconds: int, expected: str) -> None:
    assert ago(1000.0 + seconds, 1000.0) == expected
