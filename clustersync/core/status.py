"""The node's status and its three alarms (readiness, activity, time alignment), as data.

The running daemon keeps a `Health` and writes it to state_dir/status.json after each
round; `alarms()` turns it (or the file, read by another process) into the three alarms
of SPEC CL-7. Both are strategy-neutral: any `run` loop that fills a Health gets the same
alarms, status output, HTTP health answers, metrics and mails.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from habase.atomic import read_mapping, write_atomic

from .clock import wall_ms

STATUS_FILE = "status.json"
GREEN, YELLOW, RED = "green", "yellow", "red"


@dataclass
class Report:
    """The outcome of one session, from this node's side."""

    peer: str
    at: float
    offset: float | None = None
    sent: int = 0
    received: int = 0
    refused: str | None = None  # "clock", "version", "busy"
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Data was exchanged."""
        return self.refused is None and self.error is None


@dataclass
class Health:
    """What the running daemon knows; written to state_dir/status.json after each round."""

    node_id: str
    version: str = ""
    pid: int = field(default_factory=os.getpid)
    updated: float = 0.0
    member: bool = True
    removed: bool = False  # this node's member row was deleted (clustersync remove)
    stopped: str | None = None  # why replication is stopped (clustersync service stop), or None
    database_error: str | None = None
    apply_error: str | None = None  # why the last batch could not be applied (disk full...), or None
    quarantined: int = 0  # changes held by this database's constraints (quarantine.py)
    successor: str | None = None
    partner: str | None = None  # the member this node last synced with as initiator; None: nobody
    tried: dict[str, str] = field(default_factory=dict)  # member -> why the last try with it failed
    last_ok: dict[str, Any] | None = None  # the last session that exchanged data
    last_failure: dict[str, Any] | None = None
    offsets: dict[str, float] = field(default_factory=dict)  # last measured, per peer
    clock_refused: dict[str, str] = field(default_factory=dict)  # peer -> why
    version_refused: dict[str, str] = field(default_factory=dict)

    def record(self, report: Report) -> None:
        """Take in a session's outcome (as initiator or as server)."""
        if report.offset is not None:
            self.offsets[report.peer] = report.offset
        if report.refused == "clock":
            self.clock_refused[report.peer] = report.error or "clock offset above the limit"
        elif report.offset is not None:
            self.clock_refused.pop(report.peer, None)
        if report.refused == "version":
            self.version_refused[report.peer] = report.error or "version mismatch"
        elif report.ok:
            self.version_refused.pop(report.peer, None)
        if report.ok:
            self.last_ok = asdict(report)
        else:
            self.last_failure = asdict(report)

    def forget(self, members: set[str]) -> None:
        """Drop what is known of nodes that are no longer members."""
        for table in (self.tried, self.offsets, self.clock_refused, self.version_refused):
            for peer in [p for p in table if p not in members]:
                del table[peer]

    def snapshot(self) -> dict[str, Any]:
        """A copy as plain data (the loop and the servers' threads may be updating a dict of it)."""
        for _ in range(4):
            try:
                return asdict(self)
            except RuntimeError:  # dictionary changed size during iteration: copy again
                time.sleep(0.001)
        return asdict(self)

    def save(self, state_dir: Path) -> None:
        """Write atomically, for `clustersync status`.

        Not synced to disk: the running member rewrites it at every change and every cycle, and a
        crash loses nothing the next start does not write again.
        """
        self.updated = time.time()
        write_atomic(state_dir / STATUS_FILE, json.dumps(self.snapshot(), indent=1), durable=False)


def load_health(state_dir: Path) -> dict[str, Any] | None:
    """The running daemon's last status, or None."""
    return read_mapping(state_dir / STATUS_FILE)


def _readiness(member: bool, running: bool, health: Mapping[str, Any] | None) -> dict[str, Any]:
    reason = None
    if health and health.get("removed"):
        reason = "removed from the cluster (data kept): clustersync join to become a member again"
    elif not member:
        reason = "not a member: run clustersync create or join"
    elif not running or health is None:
        reason = "clustersync run is not running"
    elif health.get("database_error"):
        reason = "database unreachable: " + str(health["database_error"])
    elif health.get("apply_error"):
        reason = "cannot apply changes: " + str(health["apply_error"])
    elif health.get("stopped"):
        reason = "replication stopped: " + str(health["stopped"])
    elif health.get("version_refused"):
        reason = "version mismatch: " + "; ".join(health["version_refused"].values())
    if reason is None:
        return {"ready": True, "state": GREEN, "reason": "provisioned and ready"}
    return {"ready": False, "state": RED, "reason": reason}


def stale_after(sync_interval: float, timeout: float) -> float:
    """Seconds after which a member's last successful exchange no longer counts as activity."""
    return 3 * sync_interval + 2 * timeout + 5


def alarms(member: bool, health: Mapping[str, Any] | None, stale_after: float, now: float) -> dict[str, Any]:
    """The three alarms (SPEC CL-7) from membership and the daemon's last status."""
    running = health is not None and now - float(health.get("updated", 0)) <= stale_after
    readiness = _readiness(member, running, health)
    activity: dict[str, Any] = {"state": RED, "peer": None, "successor": None, "reason": "", "failed": {}}
    alignment: dict[str, Any] = {"state": GREEN, "offsets": {}, "detail": ""}
    if health is None or not running:
        activity["reason"] = readiness["reason"]
    else:
        successor, partner = health.get("successor"), health.get("partner")
        activity.update(peer=partner, successor=successor, failed=dict(health.get("tried") or {}))
        if not readiness["ready"] and not health.get("version_refused"):
            activity["reason"] = readiness["reason"]
        elif successor is None:
            activity["reason"] = "no other member"
        elif partner is None:
            tried = health.get("tried") or {}
            why = "; ".join(f"{peer}: {error}" for peer, error in tried.items())
            activity["reason"] = "no available node" + (f" ({why})" if why else "")
        elif partner == successor:
            activity.update(state=GREEN, reason=f"syncing with the successor {successor}")
        else:
            why = (health.get("tried") or {}).get(successor, "")
            activity.update(
                state=YELLOW,
                reason=f"syncing with {partner} instead of the successor {successor}"
                + (f" ({why})" if why else ""),
            )
        alignment["offsets"] = dict(health.get("offsets") or {})
        if health.get("clock_refused"):
            alignment["state"] = RED
            alignment["detail"] = "; ".join(health["clock_refused"].values())
    return {"readiness": readiness, "activity": activity, "time_alignment": alignment}


def lag_seconds(ours: Mapping[str, int], theirs: Mapping[str, int] | None) -> float | None:
    """How far behind our vector a member's last known vector is, in seconds (None: never heard)."""
    if not theirs:
        return None
    behind = [wall_ms(hlc) - wall_ms(theirs[origin]) for origin, hlc in ours.items() if origin in theirs]
    return max([0, *behind]) / 1000
