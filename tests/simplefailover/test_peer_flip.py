"""A peer's view flipping a check makes this instance check it at once (SPEC SF-2)."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from simplefailover.engine import peer_flips
from simplefailover.state import CheckState, Status
from tests.simplefailover.peers.test_engine import make_engine, peer, result

KEY = ("n1", "p")
statuses = st.sampled_from(list(Status))


def test_a_peer_seeing_n1_fail_asks_for_a_check_of_n1_once() -> None:
    engine = make_engine()
    asked: list[tuple[str, str, str]] = []
    engine.on_peer_flip(lambda *a: asked.append(a))
    now = time.time()
    engine.receive_view(peer("a", Status.OK, now))  # first view: no news
    engine.record("n1", "p", result(True, now))
    engine.record("n2", "p", result(True, now))
    engine.receive_view(peer("a", Status.OK, now + 1))
    assert asked == []
    engine.receive_view(peer("a", Status.KO, now + 2))
    assert asked == [("n1", "p", "peer a sees it KO")]
    engine.receive_view(peer("a", Status.KO, now + 3))  # the same view again: nothing new
    engine.record("n1", "p", result(False, now + 4))
    engine.record("n1", "p", result(False, now + 4))
    engine.receive_view(peer("a", Status.OK, now + 5))
    assert asked[1:] == [("n1", "p", "peer a sees it OK")]  # back: ours is KO, check again


@given(before=statuses, after=statuses, mine=statuses)
def test_flip_only_when_the_peer_changed_to_a_status_ours_lacks(
    before: Status, after: Status, mine: Status
) -> None:
    flips = peer_flips({KEY: before}, {KEY: after}, {KEY: CheckState(mine)})
    expected = before is not after and after is not Status.UNKNOWN and mine is not after
    assert flips == ([KEY] if expected else [])
    assert peer_flips(None, {KEY: after}, {KEY: CheckState(mine)}) == []
