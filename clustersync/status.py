"""The node's status and its three alarms (readiness, activity, time alignment), as data."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .session import Report

STATUS_FILE = "status.json"


@dataclass
class Health:
    """What the running daemon knows; written to state_dir/status.json after each round."""

    node_id: str
    pid: int = field(default_factory=os.getpid)
    updated: float = 0.0
    successor: str | None = None
    last_ok: dict[str, Any] | None = None  # the last session that exchanged data
    last_failure: dict[str, Any] | None = None
    offsets: dict[str, float] = field(default_factory=dict)  # last measured, per peer
    clock_refused: dict[str, str] = field(default_factory=dict)  # peer -> why
    version_refused: dict[str, str] = field(default_factory=dict)

    def record(self, report: Report) -> None:
        """Take in a session's outcome."""
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

    def save(self, state_dir: Path) -> None:
        """Write atomically, for `clustersync status`."""
        self.updated = time.time()
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / (STATUS_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, state_dir / STATUS_FILE)


def load_health(state_dir: Path) -> dict[str, Any] | None:
    """The running daemon's last status, or None."""
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def alarms(member: bool, health: dict[str, Any] | None, stale_after: float, now: float) -> dict[str, Any]:
    """The three alarms (SPEC CL-7) from membership and the daemon's last status."""
    running = health is not None and now - float(health.get("updated", 0)) <= stale_after
    if not member:
        readiness = {"ready": False, "reason": "not a member: run clustersync create or join"}
    elif not running:
        readiness = {"ready": False, "reason": "clustersync run is not running"}
    elif health and health.get("version_refused"):
        why = "; ".join(health["version_refused"].values())
        readiness = {"ready": False, "reason": "version mismatch: " + why}
    else:
        readiness = {"ready": True, "reason": "provisioned and ready"}
    activity: dict[str, Any] = {"state": "red", "peer": None, "successor": None}
    alignment: dict[str, Any] = {"state": "green", "offsets": {}, "detail": ""}
    if running and health:
        last = health.get("last_ok") or {}
        successor = health.get("successor")
        activity["successor"] = successor
        if last and now - float(last.get("at", 0)) <= stale_after:
            activity["peer"] = last.get("peer")
            activity["state"] = "green" if last.get("peer") == successor else "yellow"
        alignment["offsets"] = health.get("offsets", {})
        if health.get("clock_refused"):
            alignment["state"] = "red"
            alignment["detail"] = "; ".join(health["clock_refused"].values())
    return {"readiness": readiness, "activity": activity, "time_alignment": alignment}
