"""Pure: the events of SPEC CL-8 from two successive alarm sets, one per transition.

A transition is a change of an alarm's state, never a repeated failure: the daemon passes
the alarms it computed after each round and the ones before, and mails what this returns.
Start-up compares against an all-good baseline, so a node that starts unready, alone or
misaligned says so once, and one that starts fine says nothing.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .status import GREEN, RED, YELLOW

Alarms = Mapping[str, Any]

# Event kinds, as named in SPEC CL-8.
NOT_READY, READY = "sync not ready", "sync ready"
FAILURE, FAILOVER, NO_NODE, FAILBACK = "failure", "failover", "no available node", "failback"
TIME_OFF, TIME_OK = "time not aligned", "time aligned"
CONFLICT = "conflict"  # SPEC CL-16: rows inserted under one key on two members

BASELINE: Alarms = {
    "readiness": {"ready": True, "reason": "provisioned and ready"},
    "activity": {"state": GREEN, "peer": None, "successor": None, "reason": ""},
    "time_alignment": {"state": GREEN, "detail": ""},
}


@dataclass(frozen=True)
class Event:
    """One notifiable transition: its kind and the mail that tells it."""

    kind: str
    subject: str
    body: str


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _event(kind: str, node: str, headline: str, lines: list[str], at: float) -> Event:
    lines = ["Node:", node, *lines, "Time:", _when(at)]
    table = [f"{label:<11}{value}" for label, value in zip(lines[::2], lines[1::2], strict=True)]
    body = "\n".join([f"clustersync on {node}: {headline}.", "", *table, ""])
    return Event(kind, f"[{node}] clustersync: {kind}" + (f": {headline}" if headline else ""), body)


def _readiness(old: Alarms, new: Alarms, node: str, at: float) -> list[Event]:
    was, now = old["readiness"], new["readiness"]
    if bool(was["ready"]) == bool(now["ready"]):
        return []
    if now["ready"]:
        return [_event(READY, node, "synchronisation is ready again", ["Was:", str(was["reason"])], at)]
    return [_event(NOT_READY, node, str(now["reason"]), ["Reason:", str(now["reason"])], at)]


def _failure(was: Mapping[str, Any], now: Mapping[str, Any], node: str, at: float) -> list[Event]:
    """The member this node synced with failed (a failure is news only for that one)."""
    lost = was.get("peer")
    why = (now.get("failed") or {}).get(lost) if lost else None
    if why is None:
        return []
    return [
        _event(FAILURE, node, f"sync with {lost} failed: {why}", ["Member:", str(lost), "Reason:", why], at)
    ]


def _activity(old: Alarms, new: Alarms, node: str, at: float) -> list[Event]:
    was, now = old["activity"], new["activity"]
    if not new["readiness"]["ready"] and not str(new["readiness"]["reason"]).startswith("version"):
        return []  # the readiness event says why nothing syncs
    if not old["readiness"]["ready"] and not str(old["readiness"]["reason"]).startswith("version"):
        was = BASELINE["activity"]  # replication resumed: judge activity afresh
    before, after = was["state"], now["state"]
    if now.get("successor") is None:
        return []  # alone in the cluster: nobody to sync with is not a failure
    if was.get("successor") is None:
        before = GREEN  # was alone: a first member joining is no failback (nothing failed)
    events: list[Event] = []
    detail = ["Successor:", str(now["successor"]), "Detail:", str(now.get("reason", ""))]
    if after == YELLOW and (before != YELLOW or was.get("peer") != now.get("peer")):
        events += _failure(was, now, node, at)
        headline = f"syncing with {now['peer']} instead of the successor {now['successor']}"
        events.append(_event(FAILOVER, node, headline, detail, at))
    elif after == RED and before != RED:
        events += _failure(was, now, node, at)
        events.append(_event(NO_NODE, node, "no member answers: nothing is synchronised", detail, at))
    elif after == GREEN and before != GREEN:
        headline = f"syncing with the successor {now['successor']} again"
        events.append(_event(FAILBACK, node, headline, detail, at))
    return events


def _time(old: Alarms, new: Alarms, node: str, at: float) -> list[Event]:
    was, now = old["time_alignment"]["state"], new["time_alignment"]["state"]
    if was == now:
        return []
    if now == RED:
        detail = str(new["time_alignment"].get("detail", ""))
        return [_event(TIME_OFF, node, detail or "clock offset above the limit", [], at)]
    return [_event(TIME_OK, node, "clock offsets back within the limit", [], at)]


def _conflicts(old: Alarms, new: Alarms, node: str, at: float) -> list[Event]:
    """More insert collisions wait for acknowledgement than before: one mail per round."""
    was, now = (old.get("conflicts") or {}), (new.get("conflicts") or {})
    added = int(now.get("insert", 0)) - int(was.get("insert", 0))
    if added <= 0:
        return []
    headline = f"{added} row(s) inserted under a key another member used at the same time"
    lines = [
        "Waiting:", f"{now.get('insert', 0)} collision(s), {now.get('column', 0)} column conflict(s)",
        "Kept:", "the later insert; the other row is in the conflict log",
        "See:", "clustersync conflicts (then clustersync conflicts ack)",
    ]  # fmt: skip
    return [_event(CONFLICT, node, headline, lines, at)]


class Newcomers:
    """Members not yet heard from since this process first saw them, within a grace period.

    A member that was just admitted has no `run` yet, and one that this process only
    learned of at start may be starting too: a failure to reach them then is not news. So
    their failures are held back from the mails for `grace` seconds (the alarm itself
    still shows it); a member that never comes is mailed about once the grace is over.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._first_seen: dict[str, float] = {}
        self._answered: set[str] = set()

    def saw(self, members: Iterable[str], now: float) -> None:
        """Note the current members (forgetting removed ones)."""
        current = set(members)
        for node in current:
            self._first_seen.setdefault(node, now)
        for node in set(self._first_seen) - current:
            del self._first_seen[node]
            self._answered.discard(node)

    def answered(self, node: str) -> None:
        """This member answered once: from now on its failures are news."""
        self._answered.add(node)

    def held(self, now: float) -> set[str]:
        """The members whose failures are not mailed yet."""
        return {
            node
            for node, first in self._first_seen.items()
            if node not in self._answered and now - first < self.grace
        }


def hold_newcomers(old: Alarms | None, new: Alarms, held: Collection[str]) -> Alarms:
    """The alarms to mail about: activity stays as it was while only held members fail."""
    failed = set((new["activity"].get("failed") or {}).keys())
    if new["activity"]["state"] == GREEN or not failed or not failed <= set(held):
        return new
    return {**new, "activity": (BASELINE if old is None else old)["activity"]}


def events(old: Alarms | None, new: Alarms, node: str, at: float) -> list[Event]:
    """The events between two alarm sets (old None: start-up, compared with all good)."""
    base = BASELINE if old is None else old
    return (
        _readiness(base, new, node, at)
        + _activity(base, new, node, at)
        + _time(base, new, node, at)
        + _conflicts(base, new, node, at)
    )
