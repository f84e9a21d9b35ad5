"""The one check-row type `check` and the dashboard share: built from a check's state, pure."""

from __future__ import annotations

import pytest

from simplefailover.checkrow import bound_hostnames, check_row, serving_hostnames
from simplefailover.config import Config, parse_config
from simplefailover.pollers.result import PollResult
from simplefailover.state import CheckState, HealthBoard, Status, next_check_state

CONFIG = """
zone: {name: example.test}
nodes:
  - {id: a, address: 127.0.18.11, priority: 10}
  - {id: b, address: 127.0.18.12, priority: 5}
pollings:
  - {id: p, method: tcp, port: 9}
  - {id: q, method: tcp, port: 10}
hostnames:
  - {name: www, polling: p}
  - {name: api, polling: p}
  - {name: sip, polling: q}
"""
DAY = 86400.0


def make_config() -> Config:
    return parse_config(CONFIG)


def test_a_check_not_run_yet_has_no_times_latency_or_certificate() -> None:
    config = make_config()
    row = check_row(config.nodes[1], config.pollings[0], CheckState(), now=100.0, cert_warning_days=14)
    assert (row.node_id, row.address, row.priority, row.polling_id, row.method) == (
        "b",
        "127.0.18.12",
        5,
        "p",
        "tcp",
    )
    assert row.status == "UNKNOWN"
    assert (row.since, row.last_check, row.latency_ms, row.cert_days_left) == (None, None, None, None)
    assert row.error == ""
    assert not row.cert_warning


@pytest.mark.parametrize(("days", "warning"), [(13.0, True), (14.0, False), (30.0, False)])
def test_certificate_days_are_counted_from_now_against_the_warning_days(days: float, warning: bool) -> None:
    config = make_config()
    now = 1_000_000.0
    result = PollResult(False, 0.0123456, "refused", at=now - DAY, cert_not_after=now + days * DAY)
    state = next_check_state(CheckState(), result, fall=2, rise=2)
    row = check_row(config.nodes[0], config.pollings[0], state, now=now, cert_warning_days=14)
    assert row.status == "KO"
    assert row.since == now - DAY
    assert row.last_check == now - DAY
    assert row.latency_ms == 12.346
    assert row.error == "refused"
    assert row.cert_expires == now + days * DAY
    assert row.cert_days_left == days
    assert row.cert_warning is warning
    assert (row.successes, row.failures) == (0, 1)


def test_bound_and_serving_hostnames_follow_the_config_and_the_answers() -> None:
    config = make_config()
    board = HealthBoard(config)
    for node, polling, ok in (("a", "p", True), ("b", "p", True), ("a", "q", False), ("b", "q", True)):
        board.observe(node, polling, PollResult(ok, 0.001, "" if ok else "refused", 1.0))
    assert board.checks[("b", "q")].status is Status.OK
    assert bound_hostnames(config) == {
        "p": ("www.example.test", "api.example.test"),
        "q": ("sip.example.test",),
    }
    assert serving_hostnames(config, board.table.answers) == {
        ("a", "p"): ("www.example.test", "api.example.test"),  # a has the higher priority
        ("b", "q"): ("sip.example.test",),  # a's q is KO
    }
