"""The replicated strategy: each member keeps its own SQLite copy and syncs it around the ring.

Gathers, behind the Strategy interface (core/strategy.py), the pieces of the layers below:
create and join (join/), remove and upgrade order (ops/control.py), this node's database
(store/) and the running member (sync/daemon.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from ..config import Cluster, ClusterConfig
from ..core.status import alarms, lag_seconds, load_health, stale_after
from ..core.strategy import Created, Joined, LocalOperation, Progress, Removed, RunningMember, StatusData
from ..join.incoming import Incoming
from ..join.joiner import join_readiness, join_replicated
from ..join.members import create
from ..ops.control import remove_member, stopped_reason, version_of
from ..store.local import open_store, replicated_cluster
from ..store.reads import ReadOnly
from ..wire.protocol import create_secret, load_secret
from .daemon import Node

SHOWN_CONFLICTS = 50  # entries of the conflict log in status --json and on the HA page
COUNTERS = ("applied", "duplicates", "conflicts", "stale", "quarantined", "released", "too_large")


class ReplicatedStrategy:
    """Each member a copy of the replicated tables, synced with its successor in ring order."""

    name = "replicated"

    def check(self, config: ClusterConfig) -> Cluster:
        """The cluster section, checked for what a replicated member needs."""
        return replicated_cluster(config)

    def create(self, config: ClusterConfig) -> Created:
        """Make this node the first member: its rows become the cluster's; make the secret if none."""
        cluster = replicated_cluster(config)
        made = create_secret(cluster.secret_path())
        load_secret(cluster.secret_path())
        store = open_store(config)
        try:
            count = create(store, str(cluster.address), cluster.port, cluster.sync_port())
        finally:
            store.close()
        data = f"{count} rows are the cluster's data"
        return Created(cluster.node_id, str(cluster.address), count, cluster.secret_path(), made, data)

    def join(self, config: ClusterConfig, peer: str, progress: Progress | None) -> Joined:
        """Copy a member's data through its control port (resumable), then catch up."""
        replicated_cluster(config)
        done = join_replicated(config, peer, progress)
        return Joined(done.node_id, done.host, done.port, done.rows, done.size, done.seconds, done.warnings)

    def interrupted_join(self, config: ClusterConfig) -> str | None:
        """The member an interrupted join went through (its state file in state_dir), or None."""
        cluster = replicated_cluster(config)
        assert cluster.database is not None
        state = Incoming(cluster.database, cluster.state_dir).load()
        return None if state is None else state.peer

    def remove(self, config: ClusterConfig, node_id: str) -> Removed:
        """Delete the member's row here; the ring carries the change to every member."""
        return remove_member(config, node_id)

    def status(self, config: ClusterConfig) -> StatusData:
        """Members, alarms, counters, quarantine and conflicts, read without writing to the database."""
        return status_data(config)

    def member(self, config: ClusterConfig) -> RunningMember:
        """The ring member: sync and control servers and the ring loop."""
        return Node(config)

    def own_database(self, config: ClusterConfig, operation: LocalOperation) -> Cluster:
        """Every operation has this node's own database to work on."""
        return replicated_cluster(config)

    def data_folders(self, cluster: Cluster) -> list[Path]:
        """The database's folder (SQLite writes its WAL and journal beside it)."""
        return [cluster.database.parent] if cluster.database is not None else []

    def setup_lines(self) -> list[str]:
        """The application's database and the tables to replicate."""
        return ["  database: /var/lib/APP/app.db", "  tables: {replicated: [TABLE, ...]}"]


def status_data(config: ClusterConfig) -> StatusData:
    """Members, strategy, alarms and counters of a replicated member, as JSON-ready data."""
    cluster = replicated_cluster(config)
    assert cluster.database is not None  # replicated_cluster checked it
    store = ReadOnly(cluster.database, cluster.node_id)  # looking never writes to the database
    try:
        health = load_health(cluster.state_dir)
        stale = stale_after(cluster.sync_interval, cluster.timeout)
        members = sorted(store.members(), key=lambda m: (m.position, m.node_id))
        partner = (health or {}).get("partner")
        known, ours = store.known(), store.vector()
        return {
            "node_id": cluster.node_id,
            "strategy": cluster.strategy,
            "version": version_of(cluster),
            "replication": "stopped" if stopped_reason(cluster.state_dir) else "running",
            "partner": partner,
            "member": bool(store.meta("member")),
            "members": [
                {
                    "id": m.node_id,
                    "address": m.address,
                    "position": m.position,
                    "version": m.version,
                    "local": m.node_id == cluster.node_id,
                    "strategy": cluster.strategy,
                    "sync_partner": m.node_id == partner,
                    "lag": 0.0 if m.node_id == cluster.node_id else lag_seconds(ours, known.get(m.node_id)),
                }
                for m in members
            ],
            "alarms": join_readiness(alarms(bool(store.meta("member")), health, stale, time.time()), cluster),
            "vector": store.vector(),
            "pending": store.pending(),
            "counters": {k: store.counter(k) for k in COUNTERS},
            "quarantine": store.quarantined(),
            "conflicts": store.open_conflicts(),
            "conflict_log": store.conflicts()[:SHOWN_CONFLICTS],
        }
    finally:
        store.close()
