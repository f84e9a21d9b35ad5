"""Transition detection (old alarms -> new alarms -> events), without sockets or processes."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clustersync.core.events import (
    FAILBACK,
    FAILOVER,
    FAILURE,
    NO_NODE,
    NOT_READY,
    READY,
    TIME_OFF,
    TIME_OK,
    events,
)
from clustersync.core.status import alarms

NOW = 1_800_000_000.0


def health(**changes: Any) -> dict[str, Any]:
    """A running node n1 whose successor is n2, syncing with it, unless changed."""
    base: dict[str, Any] = {
        "node_id": "n1",
        "updated": NOW,
        "successor": "n2",
        "partner": "n2",
        "tried": {},
        "offsets": {},
        "clock_refused": {},
        "version_refused": {},
    }
    return base | changes


def state(**changes: Any) -> dict[str, Any]:
    return alarms(True, health(**changes), 10, NOW)


GREEN = state()
YELLOW = state(partner="n3", tried={"n2": "TimeoutError: timed out"})
RED = state(partner=None, tried={"n2": "TimeoutError: timed out", "n3": "ConnectionRefusedError"})


def kinds(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    return [e.kind for e in events(old, new, "n1", NOW)]


def test_alarm_states() -> None:
    assert GREEN["activity"]["state"] == "green" and GREEN["readiness"]["ready"]
    assert YELLOW["activity"]["state"] == "yellow"
    assert RED["activity"]["state"] == "red" and "no available node" in RED["activity"]["reason"]
    stale = alarms(True, health(updated=NOW - 60), 10, NOW)
    assert not stale["readiness"]["ready"] and "not running" in stale["readiness"]["reason"]
    assert stale["activity"]["state"] == "red"


def test_failover_then_failback() -> None:
    assert kinds(GREEN, YELLOW) == [FAILURE, FAILOVER]
    failure = events(GREEN, YELLOW, "n1", NOW)[0]
    assert "n2" in failure.subject and "TimeoutError: timed out" in failure.body
    assert kinds(YELLOW, GREEN) == [FAILBACK]


def test_nobody_answers() -> None:
    assert kinds(GREEN, RED) == [FAILURE, NO_NODE]
    assert kinds(YELLOW, RED) == [FAILURE, NO_NODE]  # n3, the partner then, failed too
    assert kinds(RED, YELLOW) == [FAILOVER]
    assert kinds(RED, GREEN) == [FAILBACK]


def test_another_failover_while_yellow_tells_the_partner_failed() -> None:
    other = state(partner="n4", tried={"n2": "timed out", "n3": "refused"})
    assert kinds(YELLOW, other) == [FAILURE, FAILOVER]
    assert "sync with n3 failed: refused" in events(YELLOW, other, "n1", NOW)[0].subject


def test_readiness_and_time() -> None:
    stopped = state(stopped="clustersync service stop", partner=None)
    assert kinds(GREEN, stopped) == [NOT_READY]  # no activity mails: readiness says why
    assert kinds(stopped, GREEN) == [READY]
    assert kinds(stopped, RED) == [READY, NO_NODE]  # judged afresh, as at start-up
    broken = state(database_error="app.db: disk I/O error", partner=None)
    assert broken["readiness"]["reason"] == "database unreachable: app.db: disk I/O error"
    assert kinds(GREEN, broken) == [NOT_READY]
    removed = alarms(False, health(removed=True, partner=None), 10, NOW)
    assert "removed from the cluster" in removed["readiness"]["reason"]
    mismatch = state(version_refused={"n2": "version mismatch: n2 runs 9.9"}, partner=None)
    assert NOT_READY in kinds(GREEN, mismatch)
    off = state(clock_refused={"n2": "clock offset to n2 is +20.0 s (limit 15 s)"})
    assert kinds(GREEN, off) == [TIME_OFF]
    assert "+20.0 s" in events(GREEN, off, "n1", NOW)[0].subject
    assert kinds(off, GREEN) == [TIME_OK]


def test_start_up() -> None:
    assert kinds(None, GREEN) == []
    assert kinds(None, RED) == [NO_NODE]  # nothing was lost: it never synced
    alone = state(successor=None, partner=None)
    assert kinds(None, alone) == []


ALL = [GREEN, YELLOW, RED, state(stopped="stopped"), state(clock_refused={"n2": "off"})]


@given(st.lists(st.sampled_from(range(len(ALL))), min_size=1, max_size=30))
def test_one_mail_per_transition_never_one_per_retry(path: list[int]) -> None:
    """Repeating a state sends nothing; every change of some alarm sends at least one mail."""
    previous: dict[str, Any] | None = None
    for index in path:
        current = ALL[index]
        again = events(current, current, "n1", NOW)
        assert again == []
        if previous is not None and previous != current:
            assert events(previous, current, "n1", NOW)
        previous = current


def test_a_first_member_joining_a_lone_node_is_no_failback() -> None:
    alone = state(successor=None, partner=None)
    assert alone["activity"]["state"] == "red" and kinds(None, alone) == []
    assert kinds(alone, GREEN) == []  # the newcomer answers at once: nothing to tell
    assert kinds(alone, RED) == [NO_NODE]  # it never answers: that is news


def test_a_newcomer_that_does_not_run_yet_is_not_news_until_the_grace_is_over() -> None:
    from clustersync.core.events import Newcomers, hold_newcomers

    members = Newcomers(grace=30)
    members.saw({"n2", "n3"}, now=0)
    members.answered("n3")
    alone = state(successor=None, partner=None)
    unreachable = state(partner=None, tried={"n2": "ConnectionRefusedError"})
    # n2 was just admitted and does not answer yet: held, so no mail now nor when it comes
    shown = hold_newcomers(alone, unreachable, members.held(now=5))
    assert kinds(alone, shown) == [] and kinds(shown, GREEN) == []
    # it never comes: once the grace is over, that is news, once
    late = hold_newcomers(shown, unreachable, members.held(now=31))
    assert kinds(shown, late) == [NO_NODE]
    # a member that has answered before is news at once
    assert hold_newcomers(GREEN, RED, members.held(now=5)) is RED
    members.saw({"n3"}, now=40)  # n2 removed: forgotten
    assert members.held(now=41) == set()
