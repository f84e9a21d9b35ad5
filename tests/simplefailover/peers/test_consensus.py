"""Pure agreement rules: votes, ties, UNKNOWN, isolation, the sender, the shared serial."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simplefailover.peers.consensus import (
    Agreement,
    PeerView,
    agreed_status,
    explain,
    majority,
    shared_serial,
)
from simplefailover.state import Status

OK, KO, UNKNOWN = Status.OK, Status.KO, Status.UNKNOWN
KEY = ("node1", "poll1")


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        ([KO], KO),  # alone, its own view
        ([OK], OK),
        ([KO, KO, OK], KO),  # strict majority
        ([KO, OK, OK], OK),  # one broken link changes nothing
        ([KO, OK], OK),  # a tie keeps the node: removing it needs a strict majority
        ([KO, KO, OK, OK], OK),
        ([KO, UNKNOWN, UNKNOWN], UNKNOWN),  # one KO is no majority, and nobody saw it OK
        ([OK, UNKNOWN, UNKNOWN], OK),
        ([KO, KO, UNKNOWN], KO),
        ([KO, OK, UNKNOWN], OK),
        ([UNKNOWN, UNKNOWN], UNKNOWN),
        ([], UNKNOWN),
    ],
)
def test_agreed_status(seen: list[Status], expected: Status) -> None:
    assert agreed_status(seen) is expected


@given(st.lists(st.sampled_from([OK, KO, UNKNOWN]), max_size=9))
def test_agreed_status_is_ko_exactly_on_a_strict_majority(seen: list[Status]) -> None:
    ko = sum(s is KO for s in seen)
    assert (agreed_status(seen) is KO) == (ko * 2 > len(seen))
    assert agreed_status(seen) == agreed_status(list(reversed(seen)))  # order does not matter


def view(member: str, status: Status = OK, at: float = 100.0, ready: bool = True, **kw: object) -> PeerView:
    fields: dict = {"isolated": False, "digest": "d", "serial": 0, "sent_at": at, "received_at": at}
    fields.update(kw)
    return PeerView(member, {KEY: status}, ready, **fields)


def agreement(started_at: float = 0.0) -> Agreement:
    return Agreement("b", ("a", "b", "c"), stale_after=10.0, started_at=started_at)


def test_verdict_counts_fresh_ready_views_and_itself() -> None:
    a = agreement()
    a.receive(view("a", KO, at=100))
    a.receive(view("c", KO, at=95))
    v = a.verdict({KEY: OK}, True, [KEY], now=104)
    assert v.statuses[KEY] is KO
    assert v.voters == ("a", "b", "c") and v.quorum and not v.isolated
    # c falls silent: a tie of a (KO) and b (OK) keeps the node OK
    v = a.verdict({KEY: OK}, True, [KEY], now=106)
    assert v.statuses[KEY] is OK and v.voters == ("a", "b") and v.heard == ("a", "b") and v.quorum


def test_a_peer_still_starting_is_heard_but_does_not_vote() -> None:
    a = agreement()
    a.receive(view("a", KO, at=100, ready=False))
    v = a.verdict({KEY: OK}, True, [KEY], now=101)
    assert v.heard == ("a", "b") and v.voters == ("b",)
    assert not v.isolated and not v.quorum


def test_isolation_after_the_start_grace() -> None:
    a = agreement(started_at=100)
    assert not a.isolated(105)  # just started: peers may not have spoken yet
    assert a.isolated(111)
    a.receive(view("c", at=111))
    assert not a.isolated(112)
    assert a.isolated(122)  # c silent for more than stale_after


def test_older_view_does_not_replace_newer() -> None:
    a = agreement()
    assert a.receive(view("a", KO, at=100))
    assert not a.receive(view("a", OK, at=99, received_at=101))  # reordered datagram
    assert a.views["a"].statuses[KEY] is KO
    assert not a.receive(view("x", at=100))  # not a member
    assert not a.receive(view("b", at=100))  # itself


def test_sender_is_lowest_healthy_member() -> None:
    a = agreement()
    assert a.sender(True, now=5) == "b"
    a.receive(view("a", at=100))
    a.receive(view("c", at=100))
    assert a.sender(True, now=101) == "a"
    a.receive(view("a", at=102, isolated=True))
    assert a.sender(True, now=103) == "b"  # an isolated peer does not send
    a.receive(view("a", at=104, ready=False))
    assert a.sender(True, now=105) == "b"
    # b hears nobody: it still mails what it decides (a survivor must mail the others' death)
    assert a.sender(True, now=120) == "b"


def test_explain() -> None:
    a = agreement()
    a.receive(view("a", KO, at=100))
    a.receive(view("c", KO, at=100))
    assert explain(a.verdict({KEY: OK}, True, [KEY], now=101), KEY) == "KO for 2 of 3 instances (a, c)"
    a.receive(view("c", OK, at=102))
    verdict = a.verdict({KEY: OK}, True, [KEY], now=103)
    assert explain(verdict, KEY) == "OK for 2 of 3 instances (b, c); KO for a, not a majority"


def test_majority() -> None:
    assert majority(2, 3) and not majority(1, 3) and not majority(2, 4) and majority(3, 4)


# ------------------------------------------------------------------ shared serial


def test_serial_new_answers_go_above_everything_seen() -> None:
    assert shared_serial(10, "D", True, [("E", 12)], max_seen=15, now=0) == 16
    assert shared_serial(10, "D", True, [], max_seen=0, now=1000) == 1000  # tracks the clock


def test_serial_new_answers_take_a_peers_higher_serial_for_the_same_answers() -> None:
    assert shared_serial(10, "D", True, [("D", 14), ("E", 20)], max_seen=20, now=0) == 14


def test_serial_unchanged_answers_adopt_a_higher_serial_only() -> None:
    assert shared_serial(10, "D", False, [("D", 14)], max_seen=20, now=0) == 14
    assert shared_serial(10, "D", False, [("D", 9), ("E", 30)], max_seen=30, now=0) == 10


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[tuple[str, int, int]]]:
    """A number of instances and a sequence of (change|deliver, instance, other/digest) steps."""
    n = draw(st.integers(2, 5))
    steps = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("change"), st.integers(0, n - 1), st.integers(0, 3)),
                st.tuples(st.just("deliver"), st.integers(0, n - 1), st.integers(0, n - 1)),
            ),
            max_size=40,
        )
    )
    return n, steps


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(0, 3), st.integers(0, 2000))
def test_serials_converge_once_answers_agree(history: tuple[int, list], final: int, clock: int) -> None:
    """Whatever the order of changes and deliveries, the same answers end with the same serial.

    Each instance keeps (digest, serial) and what it last heard from each peer; its serial
    never decreases and rises whenever its answers change.
    """
    n, steps = history
    digest = ["start"] * n
    serial = [1] * n
    heard: list[dict[int, tuple[str, int]]] = [{} for _ in range(n)]
    max_seen = [1] * n

    def change(i: int, new: str, now: int) -> None:
        if new == digest[i]:
            return
        before = serial[i]
        serial[i] = shared_serial(serial[i], new, True, heard[i].values(), max_seen[i], now)
        digest[i] = new
        assert serial[i] > before

    def deliver(frm: int, to: int, now: int) -> None:
        if frm == to:
            return
        heard[to][frm] = (digest[frm], serial[frm])
        max_seen[to] = max(max_seen[to], serial[frm])
        before = serial[to]
        serial[to] = shared_serial(serial[to], digest[to], False, heard[to].values(), max_seen[to], now)
        assert serial[to] >= before

    now = clock
    for kind, i, x in steps:
        now += 1
        if kind == "change":
            change(i, f"D{x}", now)
        else:
            deliver(i, x, now)
    for i in range(n):  # the cluster settles on the same answers ...
        now += 1
        change(i, f"D{final}", now)
    for _ in range(2):  # ... and every view reaches every instance
        for frm in range(n):
            for to in range(n):
                deliver(frm, to, now)
    assert len(set(serial)) == 1, serial


def test_sender_passes_over_a_member_whose_node_is_down() -> None:
    a = agreement()
    a.receive(view("a", at=100))
    a.receive(view("c", at=100))
    assert a.sender(True, now=101, down={"a"}) == "b"
    assert a.sender(True, now=101, down={"a", "b"}) == "c"
    assert a.sender(True, now=101, down={"a", "b", "c"}) == "a"  # all down: someone still mails
