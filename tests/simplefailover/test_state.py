"""Pure health-state and answer-choice rules, tested without sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simplefailover.config import Config, parse_config
from simplefailover.pollers.result import PollResult
from simplefailover.state import (
    CheckState,
    HealthBoard,
    Status,
    choose_answer,
    next_check_state,
    next_serial,
)

BASE = """
zone: {name: example.test}
nodes:
  - {id: a, address: 127.0.0.11, priority: 10}
  - {id: b, address: 127.0.0.12, priority: 5}
  - {id: c, address: 127.0.0.13, priority: 5}
pollings:
  - {id: p, method: tcp, port: 9}
hostnames:
  - {name: www, polling: p, when_all_down: POLICY}
schedule: {fall: 2, rise: 3}
"""


def make_config(policy: str = "all") -> Config:
    return parse_config(BASE.replace("POLICY", policy))


def ok(at: float = 1.0) -> PollResult:
    return PollResult(True, 0.001, "", at)


def ko(at: float = 1.0, error: str = "connection refused") -> PollResult:
    return PollResult(False, 0.001, error, at)


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ("+", Status.OK),  # first result decides at once
        ("-", Status.KO),
        ("+-", Status.OK),  # one failure is below fall=2
        ("+--", Status.KO),
        ("+-+-+-", Status.OK),  # flapping never reaches fall
        ("-++", Status.KO),  # two successes are below rise=3
        ("-+++", Status.OK),
        ("-++-+++", Status.OK),
        ("-++-++", Status.KO),  # the failure reset the success count
    ],
)
def test_fall_and_rise(results: str, expected: Status) -> None:
    state = CheckState()
    for index, mark in enumerate(results):
        state = next_check_state(state, ok(index) if mark == "+" else ko(index), fall=2, rise=3)
    assert state.status is expected


def test_since_moves_only_on_change() -> None:
    state = next_check_state(CheckState(), ok(5.0), 2, 2)
    state = next_check_state(state, ok(9.0), 2, 2)
    assert state.since == 5.0


def feed(board: HealthBoard, node: str, marks: str, start: float = 1.0) -> list:
    out = []
    for i, mark in enumerate(marks):
        out += board.observe(node, "p", ok(start + i) if mark == "+" else ko(start + i))
    return out


def test_not_ready_until_every_check_reported() -> None:
    board = HealthBoard(make_config())
    feed(board, "a", "+")
    feed(board, "b", "+")
    assert not board.table.ready
    transitions = feed(board, "c", "+")
    assert board.table.ready
    assert board.table.answers["www.example.test"].addresses == ("127.0.0.11",)
    assert [t.kind for t in transitions if t.kind == "answer"] == ["answer"]


def test_failover_failback_and_serial() -> None:
    board = HealthBoard(make_config())
    for node in "abc":
        feed(board, node, "+")
    first = board.table.serial
    moved = feed(board, "a", "--", start=10)
    assert board.table.answers["www.example.test"].addresses == ("127.0.0.12",)  # tie b/c: b first
    assert any(t.kind == "check" and t.old == "OK" and t.new == "KO" for t in moved)
    second = board.table.serial
    assert second > first
    feed(board, "b", "+", start=20)  # no change in answer: serial stays
    assert board.table.serial == second
    feed(board, "a", "+++", start=30)
    assert board.table.answers["www.example.test"].addresses == ("127.0.0.11",)
    assert board.table.serial > second


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("all", ("127.0.0.11", "127.0.0.12", "127.0.0.13")),
        ("last", ("127.0.0.13",)),
        ("none", ()),
    ],
)
def test_all_down_policies(policy: str, expected: tuple[str, ...]) -> None:
    board = HealthBoard(make_config(policy))
    feed(board, "a", "-")
    feed(board, "b", "-")
    feed(board, "c", "+")
    assert board.table.answers["www.example.test"].addresses == ("127.0.0.13",)
    transitions = feed(board, "c", "--", start=10)
    answer = board.table.answers["www.example.test"]
    assert answer.all_down
    assert answer.addresses == expected
    assert any(t.kind == "all_down" for t in transitions)
    back = feed(board, "b", "+++", start=20)
    assert any(t.kind == "recovered" for t in back)


def test_last_policy_without_earlier_answer_answers_every_node() -> None:
    board = HealthBoard(make_config("last"))
    for node in "abc":
        feed(board, node, "-")
    answer = board.table.answers["www.example.test"]
    assert answer.addresses == ("127.0.0.11", "127.0.0.12", "127.0.0.13")
    assert "no earlier answer" in answer.reason


def test_reconfigure_keeps_known_state() -> None:
    board = HealthBoard(make_config())
    for node in "abc":
        feed(board, node, "+")
    feed(board, "a", "--", start=5)
    changed = make_config().model_copy(update={"nodes": make_config().nodes[:2]})
    board.reconfigure(changed, now=50)
    assert ("c", "p") not in board.checks
    assert board.checks[("a", "p")].status is Status.KO
    assert board.table.answers["www.example.test"].addresses == ("127.0.0.12",)


def test_serial_always_increases() -> None:
    assert next_serial(5, 3.0) == 6
    assert next_serial(5, 1000.0) == 1000
    assert next_serial(2000, 1000.0) == 2001


@given(
    priorities=st.lists(st.integers(-5, 5), min_size=1, max_size=8),
    statuses=st.lists(st.sampled_from(list(Status)), min_size=8, max_size=8),
)
def test_answer_is_highest_priority_ok_node(priorities: list[int], statuses: list[Status]) -> None:
    nodes_yaml = "\n".join(
        f"  - {{id: n{i}, address: 127.0.1.{i + 1}, priority: {p}}}" for i, p in enumerate(priorities)
    )
    config = parse_config(
        f"zone: {{name: t.test}}\nnodes:\n{nodes_yaml}\n"
        "pollings: [{id: p, method: tcp, port: 9}]\nhostnames: [{name: w, polling: p}]\n"
    )
    status_of = {node.id: statuses[i] for i, node in enumerate(config.nodes)}
    answer = choose_answer(config.hostnames[0], config.nodes, status_of, None)
    ok_nodes = [n for n in config.nodes if status_of[n.id] is Status.OK]
    if ok_nodes:
        top = max(n.priority for n in ok_nodes)
        first_top = next(n for n in ok_nodes if n.priority == top)
        assert answer.node_ids == (first_top.id,)
        assert not answer.all_down
    else:
        # With nothing earlier, all down is declared only once every node is known KO.
        assert answer.all_down is all(s is Status.KO for s in status_of.values())
        assert set(answer.node_ids) == {n.id for n in config.nodes}


def test_hostname_added_by_reload_is_not_all_down_before_its_checks_report() -> None:
    board = HealthBoard(make_config())
    for node in "abc":
        feed(board, node, "+")
    bigger = parse_config(
        BASE.replace("POLICY", "all")
        .replace(
            "  - {id: p, method: tcp, port: 9}\n",
            "  - {id: p, method: tcp, port: 9}\n  - {id: q, method: tcp, port: 10}\n",
        )
        .replace("hostnames:\n", "hostnames:\n  - {name: api, polling: q}\n")
    )
    transitions = board.reconfigure(bigger, now=10)
    assert not board.table.answers["api.example.test"].all_down
    assert "not checked yet" in board.table.answers["api.example.test"].reason
    assert not [t for t in transitions if t.kind == "all_down"]
    out = []
    for node in "abc":
        out += board.observe(node, "q", ko(11))
    assert [t.kind for t in out if t.kind in ("all_down", "recovered")] == ["all_down"]
    assert board.table.answers["api.example.test"].all_down


def test_node_added_to_an_all_down_hostname_keeps_it_all_down() -> None:
    board = HealthBoard(make_config())
    for node in "abc":
        feed(board, node, "-")
    assert board.table.answers["www.example.test"].all_down
    more = BASE.replace("POLICY", "all").replace(
        "  - {id: c, address: 127.0.0.13, priority: 5}\n",
        "  - {id: c, address: 127.0.0.13, priority: 5}\n  - {id: d, address: 127.0.0.14}\n",
    )
    transitions = board.reconfigure(parse_config(more), now=10)
    assert board.table.answers["www.example.test"].all_down
    assert not [t for t in transitions if t.kind in ("all_down", "recovered")]
