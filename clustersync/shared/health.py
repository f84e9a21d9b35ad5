"""The shared strategy's Health: what a check of the database found, in status.py's terms.

The daemon writes it to the same state_dir/status.json as the replicated one, and
`status.alarms` turns it into the three alarms, so `clustersync status`, the dashboard,
the events and the mails work alike. For shared, the one "peer" is the database: readiness
and activity are green while it answers, red with the reason as soon as it does not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.status import Health, Report

PEER = "database"  # the partner and successor of a shared member: there is no ring, one database


@dataclass
class SharedHealth(Health):
    """Health of a shared member, with what the last check of the database found."""

    strategy: str = "shared"
    database: str = ""  # the DSN without its password
    db_ok_at: float = 0.0  # when the database last answered (epoch s)
    members: list[dict[str, Any]] = field(default_factory=list)  # as last read from the database

    def database_ok(self, members: list[dict[str, Any]], in_cluster: bool, at: float) -> None:
        """Take in a successful check (in_cluster: this node's member row is there)."""
        self.db_ok_at, self.database_error = at, None
        self.members, self.member, self.removed = members, in_cluster, not in_cluster
        self.successor = self.partner = PEER
        self.tried.pop(PEER, None)
        self.last_ok = asdict(Report(PEER, at))

    def database_failed(self, error: str, at: float) -> None:
        """Take in a failed check (error: without the password)."""
        self.database_error, self.partner = error, None
        self.tried[PEER] = error
        self.last_failure = asdict(Report(PEER, at, error=error))

    def clock(self, offset: float, max_offset: float) -> None:
        """Take in the offset of the database's clock from this node's (database minus ours)."""
        self.offsets[PEER] = offset
        if abs(offset) > max_offset:
            way = "ahead of" if offset < 0 else "behind"
            self.clock_refused[PEER] = (
                f"this node's clock is {abs(offset):.1f} s {way} the database's (limit {max_offset:g} s)"
            )
        else:
            self.clock_refused.pop(PEER, None)

    def versions(self, mine: str) -> None:
        """Record the members that run another version (SPEC CL-10)."""
        self.version_refused = {
            str(m["node_id"]): f"{m['node_id']} runs {m['version']}, this node {mine}"
            for m in self.members
            if m.get("version") != mine
        }
