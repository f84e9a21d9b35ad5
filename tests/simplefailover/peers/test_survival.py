"""Whatever survives, the answer moves off a dead address (issue 15): pure rules, through the engine.

Each instance is an Engine fed its own results and its peers' views with explicit times, so
these are the real decision rules without sockets or clocks.
"""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from simplefailover.config import parse_config
from simplefailover.engine import Engine
from simplefailover.peers.consensus import Agreement, PeerView, agreed_status, keepable
from simplefailover.pollers.result import PollResult
from simplefailover.state import Answer, Status

OK, KO, UNKNOWN = Status.OK, Status.KO, Status.UNKNOWN
STALE = 10.0
FQDN = "www.example.test"


def config_text(me: str, nodes: list[str], witness: str | None) -> str:
    node_lines = "\n".join(
        f"  - {{id: {n}, address: 127.0.15.{10 + i}, priority: {100 - i}}}" for i, n in enumerate(nodes)
    )
    members = [*nodes, *([witness] if witness else [])]
    member_lines = "\n".join(
        f"    - {{id: {m}, address: '127.0.15.{50 + i}:1'" + (", role: witness}" if m == witness else "}")
        for i, m in enumerate(members)
    )
    return f"""
zone: {{name: example.test}}
nodes:
{node_lines}
pollings:
  - {{id: p, method: tcp, port: 9}}
hostnames:
  - {{name: www, polling: p}}
schedule: {{fall: 1, rise: 1}}
peers:
  id: {me}
  secret_file: secret
  stale_after: {STALE}
  members:
{member_lines}
"""


class Group:
    """Engines for every member, and the deliveries between them."""

    def __init__(self, nodes: list[str], witness: str | None = None) -> None:
        self.nodes = nodes
        self.members = [*nodes, *([witness] if witness else [])]
        self.engines = {m: Engine(parse_config(config_text(m, nodes, witness))) for m in self.members}

    def see(self, member: str, seen: dict[str, bool], at: float) -> None:
        for node, ok in seen.items():
            self.engines[member].record(node, "p", PollResult(ok, 0.001, "" if ok else "refused", at))

    def exchange(self, live: list[str], at: float, cut: set[tuple[str, str]] = frozenset()) -> None:
        """Every live member's view reaches every other live member (but along `cut`), then a tick."""
        for frm in live:
            own = self.engines[frm].own_view()
            for to in live:
                if to != frm and (frm, to) not in cut:
                    view = PeerView(
                        frm, own.statuses, own.ready, own.isolated, own.digest, own.serial, at, at
                    )
                    self.engines[to].receive_view(view)
        for member in live:
            self.engines[member].tick(at)

    def answer(self, member: str) -> Answer:
        return self.engines[member].table.answers[FQDN]

    def addresses(self, member: str) -> tuple[str, ...]:
        return self.answer(member).addresses


def address(node_index: int) -> str:
    return f"127.0.15.{10 + node_index}"


def start(group: Group, t0: float) -> None:
    for member in group.members:
        group.see(member, dict.fromkeys(group.nodes, True), t0)
    group.exchange(group.members, t0)
    group.exchange(group.members, t0 + 0.5)
    for member in group.members:
        assert group.addresses(member) == (address(0),)


# ------------------------------------------------------------------ the rows, as pure rules


def test_two_nodes_one_dies_whole_the_survivor_answers_itself() -> None:
    group, t0 = Group(["n1", "n2"]), time.time() + 100
    start(group, t0)
    group.see("n2", {"n1": False}, t0 + 1)  # n1 and its instance die at t0 + 0.5
    group.exchange(["n2"], t0 + 1)
    assert group.addresses("n2") == (address(0),)  # n1's last view (OK) still counts: a 1-1 tie
    group.exchange(["n2"], t0 + 0.5 + STALE + 0.1)
    answer = group.answer("n2")
    assert answer.addresses == (address(1),) and answer.basis == "alone"
    assert "own checks (alone" in answer.reason


def test_three_nodes_two_die_one_after_the_other_the_last_answers_itself() -> None:
    group, t0 = Group(["n1", "n2", "n3"]), time.time() + 100
    start(group, t0)
    for member in ("n2", "n3"):
        group.see(member, {"n1": False}, t0 + 1)
    group.exchange(["n2", "n3"], t0 + 1)
    assert group.addresses("n3") == (address(1),)  # 2 of 3 see n1 KO: at once
    group.see("n3", {"n2": False}, t0 + 2)
    group.exchange(["n3"], t0 + 2)
    assert group.addresses("n3") == (address(1),)  # n2's last view still counts
    group.exchange(["n3"], t0 + 1 + STALE + 0.1)
    assert group.addresses("n3") == (address(2),)


def test_an_instance_cut_from_its_peers_only_keeps_the_same_answer() -> None:
    group, t0 = Group(["n1", "n2", "n3"]), time.time() + 100
    start(group, t0)
    group.exchange(["n1", "n2"], t0 + STALE + 1)
    group.exchange(["n3"], t0 + STALE + 1)
    assert [group.addresses(m) for m in group.members] == [(address(0),)] * 3
    assert group.answer("n3").basis == "kept"


def test_an_instance_cut_from_one_node_is_outvoted() -> None:
    group, t0 = Group(["n1", "n2", "n3"]), time.time() + 100
    start(group, t0)
    group.see("n3", {"n1": False}, t0 + 1)
    group.exchange(group.members, t0 + 1)
    assert [group.addresses(m) for m in group.members] == [(address(0),)] * 3


def test_two_nodes_cut_from_each_other_without_witness_each_answers_itself() -> None:
    group, t0 = Group(["n1", "n2"]), time.time() + 100
    start(group, t0)
    group.see("n1", {"n2": False}, t0 + 1)
    group.see("n2", {"n1": False}, t0 + 1)
    for at in (t0 + 1, t0 + STALE + 1):
        group.exchange(["n1"], at)
        group.exchange(["n2"], at)
    assert group.addresses("n1") == (address(0),) and group.addresses("n2") == (address(1),)


def test_two_nodes_cut_from_each_other_with_a_witness_agree_through_it() -> None:
    group, t0 = Group(["n1", "n2"], witness="w"), time.time() + 100
    start(group, t0)
    group.see("n1", {"n2": False}, t0 + 1)
    group.see("n2", {"n1": False}, t0 + 1)
    cut = {("n1", "n2"), ("n2", "n1")}
    for at in (t0 + 1, t0 + STALE + 1):
        group.exchange(group.members, at, cut)
    assert [group.addresses(m) for m in group.members] == [(address(0),)] * 3
    assert group.answer("n2").basis == "witness"
    assert "the witness w breaking a tie" in group.answer("n2").reason


def test_two_nodes_plus_witness_one_dies_whole_at_once_after_detection() -> None:
    group, t0 = Group(["n1", "n2"], witness="w"), time.time() + 100
    start(group, t0)
    group.see("n2", {"n1": False}, t0 + 1)
    group.see("w", {"n1": False}, t0 + 1)
    group.exchange(["n2", "w"], t0 + 1)
    assert group.addresses("n2") == (address(1),)  # 2 of 3 see n1 KO: no wait for staleness


# ------------------------------------------------------------------ rules


def test_a_tie_goes_the_witness_way() -> None:
    assert agreed_status([KO, OK], witness=KO) is KO
    assert agreed_status([KO, OK], witness=OK) is OK
    assert agreed_status([KO, OK], witness=None) is OK
    assert agreed_status([KO, KO, OK], witness=OK) is KO  # a majority is not a tie
    assert agreed_status([KO, UNKNOWN], witness=UNKNOWN) is UNKNOWN


def test_keepable_needs_every_node_of_the_answer_seen_ok_by_a_voter() -> None:
    agreement = Agreement("b", ("a", "b", "c"), STALE, started_at=0)
    kept = Answer(("n1",), ("127.0.15.10",), False, "r")
    down = Answer(("n1", "n2"), ("127.0.15.10", "127.0.15.11"), True, "r")
    verdict = agreement.verdict({("n1", "p"): OK, ("n2", "p"): KO}, True, [("n1", "p"), ("n2", "p")], 100)
    assert keepable({"x": kept, "y": down}, {"x": "p", "y": "p"}, verdict) == {"x": kept}
    verdict = agreement.verdict({("n1", "p"): KO}, True, [("n1", "p")], 100)
    assert keepable({"x": kept}, {"x": "p"}, verdict) == {}


# ------------------------------------------------------------------ the property


@st.composite
def survivals(draw: st.DrawFn) -> tuple[int, bool, list[int], dict[tuple[int, int], bool]]:
    """Nodes, a witness or not, who survives, and what each survivor then sees of each node."""
    n = draw(st.integers(2, 5))
    witness = draw(st.booleans())
    members = n + witness
    live = sorted(draw(st.sets(st.integers(0, members - 1), min_size=1)))
    seen = {(m, x): draw(st.booleans()) for m in live for x in range(n)}
    return n, witness, live, seen


@settings(max_examples=150, deadline=None)
@given(survivals())
def test_no_address_everyone_alive_sees_ko_is_kept_past_stale_after(
    case: tuple[int, bool, list[int], dict[tuple[int, int], bool]],
) -> None:
    """For any survivors and their views, once stale_after has passed since the others fell
    silent, no survivor answers a node every survivor sees KO while another node is seen OK
    by some survivor (all-down answers, which list every node, aside)."""
    n, has_witness, live_index, seen = case
    nodes = [f"n{i + 1}" for i in range(n)]
    group = Group(nodes, "w" if has_witness else None)
    t0 = time.time() + 100
    start(group, t0)
    live = [group.members[i] for i in live_index]
    for m in live:
        group.see(m, {nodes[x]: seen[(group.members.index(m), x)] for x in range(n)}, t0 + 1)
    group.exchange(live, t0 + 1)
    group.exchange(live, t0 + 0.5 + STALE + 0.1)  # the dead last spoke at t0 + 0.5
    by_member = {group.members.index(m): m for m in live}
    for x in range(n):
        everyone_ko = all(not seen[(i, x)] for i in by_member)
        other_ok = any(seen[(i, y)] for i in by_member for y in range(n) if y != x)
        if not (everyone_ko and other_ok):
            continue
        for member in live:
            answer = group.answer(member)
            if answer.all_down:
                assert len(answer.addresses) == n  # every node, the OK ones included
            else:
                assert address(x) not in answer.addresses, (member, answer)


def test_a_survivor_mails_and_skips_the_isolation_mail_when_the_unheard_went_down_with_their_nodes() -> None:
    group, t0 = Group(["n1", "n2"]), time.time() + 100
    start(group, t0)
    survivor = group.engines["n2"]
    events: list[str] = []
    survivor.subscribe(lambda ts: events.extend(f"{t.kind} {t.new}" for t in ts))
    group.see("n2", {"n1": False}, t0 + 1)
    group.exchange(["n2"], t0 + 1)
    at = t0 + 0.5 + STALE + 0.1
    group.exchange(["n2"], at)
    assert "check KO" in events and "isolated yes" in events
    assert survivor.should_notify(at)  # nobody else is there to mail n1's failure
    assert survivor.unheard_went_down(at)  # n1's instance died with its node: no isolation mail


def test_the_witness_is_passed_over_as_the_sender() -> None:
    agreement = Agreement("w", ("a", "b", "w"), STALE, started_at=0, witness="a")
    assert agreement.sender(True, now=5) == "w"  # alone, it mails
    agreement.receive(PeerView("b", {}, True, False, "", 0, 100, 100))
    agreement.receive(PeerView("a", {}, True, False, "", 0, 100, 100))
    assert agreement.sender(True, now=101) == "b"  # a is the witness: b sends
