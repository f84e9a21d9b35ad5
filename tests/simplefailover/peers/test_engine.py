"""The engine with peers: answers follow the agreed statuses, isolation keeps the last table."""

from __future__ import annotations

import time

import pytest

from simplefailover.config import Config, parse_config
from simplefailover.engine import Engine
from simplefailover.peers.consensus import PeerView
from simplefailover.pollers.result import PollResult
from simplefailover.state import Status

CONFIG = """
zone: {name: example.test}
nodes:
  - {id: n1, address: 127.0.0.93, priority: 10}
  - {id: n2, address: 127.0.0.94, priority: 5}
pollings:
  - {id: p, method: tcp, port: 9}
hostnames:
  - {name: www, polling: p}
schedule: {fall: 1, rise: 1}
peers:
  id: b
  secret_file: secret
  stale_after: 10
  isolation: ISOLATION
  members:
    - {id: a, address: "127.0.0.90:1"}
    - {id: b, address: "127.0.0.91:1"}
    - {id: c, address: "127.0.0.92:1"}
"""


def make_engine(isolation: str = "keep_last") -> Engine:
    config: Config = parse_config(CONFIG.replace("ISOLATION", isolation))
    return Engine(config)


def result(ok: bool, at: float) -> PollResult:
    return PollResult(ok, 0.001, "" if ok else "refused", at)


def peer(member: str, n1: Status, at: float, digest: str = "", serial: int = 0) -> PeerView:
    statuses = {("n1", "p"): n1, ("n2", "p"): Status.OK}
    return PeerView(member, statuses, True, False, digest, serial, at, at)


def answer(engine: Engine) -> tuple[str, ...]:
    return engine.table.answers["www.example.test"].addresses


@pytest.fixture
def now() -> float:
    return time.time()


def test_own_broken_link_is_outvoted(now: float) -> None:
    engine = make_engine()
    engine.receive_view(peer("a", Status.OK, now))
    engine.receive_view(peer("c", Status.OK, now))
    engine.record("n1", "p", result(False, now))  # this instance alone sees n1 fail
    transitions = engine.record("n2", "p", result(True, now))
    assert engine.table.ready and answer(engine) == ("127.0.0.93",)
    assert engine.check_state("n1", "p").status is Status.KO  # own view kept, and shown
    assert all(t.kind != "check" or t.new != "KO" for t in transitions)


def test_majority_ko_moves_the_answer_and_reports_an_agreed_check(now: float) -> None:
    engine = make_engine()
    seen = []
    engine.subscribe(seen.extend)
    engine.receive_view(peer("a", Status.OK, now))
    engine.receive_view(peer("c", Status.OK, now))
    engine.record("n1", "p", result(True, now))
    engine.record("n2", "p", result(True, now))
    serial = engine.table.serial
    engine.record("n1", "p", result(False, now + 1))
    assert answer(engine) == ("127.0.0.93",)  # 1 of 3: no change
    assert [t.kind for t in seen[-1:]] == ["observed"]
    engine.receive_view(peer("a", Status.KO, now + 2))
    assert answer(engine) == ("127.0.0.94",)
    check = [t for t in seen if t.kind == "check" and t.new == "KO"]
    assert len(check) == 1 and check[0].reason == "KO for 2 of 3 instances (a, b)"
    assert engine.table.serial > serial


def test_serial_adopted_from_a_peer_serving_the_same_answers(now: float) -> None:
    engine = make_engine()
    engine.receive_view(peer("a", Status.OK, now))
    engine.receive_view(peer("c", Status.OK, now))
    engine.record("n1", "p", result(True, now))
    engine.record("n2", "p", result(True, now))
    digest, before = engine.own_view().digest, engine.table.serial
    engine.receive_view(peer("a", Status.OK, now + 1, digest=digest, serial=before + 7))
    assert engine.table.serial == engine.own_view().serial == before + 7
    target = engine.table.serial
    engine.receive_view(peer("c", Status.OK, now + 2, digest="other answers", serial=target + 100))
    assert engine.table.serial == target  # a higher serial for other answers is not taken


@pytest.mark.parametrize(
    ("isolation", "expected"), [("keep_last", "127.0.0.94"), ("publish_own", "127.0.0.93")]
)
def test_cut_off_instance_keeps_the_last_agreed_answer_while_it_sees_that_node_ok(
    now: float, isolation: str, expected: str
) -> None:
    engine = make_engine(isolation)
    events = []
    engine.subscribe(events.extend)
    engine.receive_view(peer("a", Status.KO, now))
    engine.receive_view(peer("c", Status.KO, now))
    engine.record("n1", "p", result(False, now))
    engine.record("n2", "p", result(True, now))
    assert answer(engine) == ("127.0.0.94",)  # n1 agreed KO by all three
    serial = engine.table.serial
    engine.record("n1", "p", result(True, now + 1))  # b sees n1 back; a and c still see it KO
    assert answer(engine) == ("127.0.0.94",)
    engine.tick(now + 30)  # both peers silent for longer than stale_after
    state = engine.agreement_state(now + 30)
    assert state is not None and state.verdict.isolated
    # keep_last: no flip back to n1 on b's word alone, n2 is still seen OK; publish_own: own checks
    assert answer(engine) == (expected,)
    assert (engine.table.serial == serial) == (isolation == "keep_last")
    assert engine.table.answers["www.example.test"].basis == ("kept" if isolation == "keep_last" else "alone")
    assert [t.new for t in events if t.kind == "isolated"] == ["yes"]
    assert engine.should_notify(now + 30)  # it mails what it decides alone
    engine.receive_view(peer("a", Status.KO, now + 31))
    engine.receive_view(peer("c", Status.KO, now + 31))
    assert answer(engine) == ("127.0.0.94",)
    assert engine.table.answers["www.example.test"].basis == "agreed"
    assert [t.new for t in events if t.kind == "isolated"] == ["yes", "no"]


def test_an_instance_hearing_nobody_never_keeps_an_address_it_sees_ko(now: float) -> None:
    engine = make_engine()
    engine.receive_view(peer("a", Status.OK, now))
    engine.receive_view(peer("c", Status.OK, now))
    engine.record("n1", "p", result(True, now))
    engine.record("n2", "p", result(True, now))
    assert answer(engine) == ("127.0.0.93",)
    engine.record("n1", "p", result(False, now + 1))  # the others die with n1, or b is cut off
    assert answer(engine) == ("127.0.0.93",)  # a and c, still heard, see n1 OK
    engine.tick(now + 12)
    assert answer(engine) == ("127.0.0.94",)  # nobody heard sees n1 OK: not kept
    why = engine.table.answers["www.example.test"].reason
    assert why.startswith("n2 is the highest-priority node whose p is OK; own checks (alone")
    state = engine.agreement_state()
    assert state is not None and state.why[("n1", "p")] == "KO for 1 of 1 instances (b)"


def test_should_notify_only_on_the_lowest_healthy_member(now: float) -> None:
    engine = make_engine()
    engine.record("n1", "p", result(True, now))
    engine.record("n2", "p", result(True, now))
    engine.receive_view(peer("c", Status.OK, now))
    assert engine.should_notify(now)  # b is lower than c
    engine.receive_view(peer("a", Status.OK, now))
    assert not engine.should_notify(now)  # a sends


def test_no_peers_configured_is_a_single_instance(now: float) -> None:
    config = parse_config(CONFIG.split("peers:")[0])
    engine = Engine(config)
    engine.record("n1", "p", result(False, now))
    transitions = engine.record("n2", "p", result(True, now))
    assert answer(engine) == ("127.0.0.94",)
    assert engine.should_notify() and engine.agreement_state() is None and engine.snapshot().agreement is None
    assert {t.kind for t in transitions} == {"check", "answer"}


def test_when_the_sending_instance_dies_with_its_node_the_next_one_mails_it(now: float) -> None:
    # Instance ids name their nodes (as in the demo): a dies with node a, and its peers
    # still hear it as fresh, yet the mail about node a must not be left to a.
    text = CONFIG.replace("n1", "a").replace("n2", "b").replace("ISOLATION", "keep_last")
    engine = Engine(parse_config(text))

    def view(member: str, a_status: Status, at: float) -> PeerView:
        return PeerView(member, {("a", "p"): a_status, ("b", "p"): Status.OK}, True, False, "", 0, at, at)

    engine.record("a", "p", result(True, now))
    engine.record("b", "p", result(True, now))
    engine.receive_view(view("a", Status.OK, now))
    engine.receive_view(view("c", Status.OK, now))
    assert not engine.should_notify(now)  # a is the sender while its node is up
    mailing: list[bool] = []
    engine.subscribe(
        lambda ts: mailing.extend(
            engine.should_notify(now + 1) for t in ts if t.kind == "check" and t.new == "KO"
        )
    )
    engine.receive_view(view("c", Status.KO, now + 1))
    engine.record("a", "p", result(False, now + 1))  # b and c: a majority sees node a down
    assert mailing == [True]  # b, the next healthy instance, mails node a's failure
    assert engine.agreement_state(now + 1).sender == "b"
