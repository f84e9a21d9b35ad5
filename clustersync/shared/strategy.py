"""The shared strategy: every member uses one PostgreSQL database; membership is rows of it.

Behind the Strategy interface (core/strategy.py). The PostgreSQL driver is an optional extra:
this module imports node.py (and so psycopg) only inside the methods that talk to the
database, so choosing the strategy, or a replicated cluster, never needs the driver.
"""

from __future__ import annotations

from pathlib import Path

from habase.hostport import parse_hostport

from ..config import Cluster, ClusterConfig
from ..core.errors import ClusterSyncError
from ..core.strategy import Created, Joined, LocalOperation, Progress, Removed, RunningMember, StatusData
from .section import shared_cluster

# What a shared member says instead of an operation on a database of its own.
NO_OWN_DATABASE: dict[LocalOperation, str] = {
    "backup": "the data is in the shared PostgreSQL database; back it up with pg_dump "
    "(clustersync backs up replicated nodes)",
    "restore": "restore the shared PostgreSQL database with pg_restore "
    "(clustersync restores replicated nodes)",
    "migrate": "nothing to migrate here (change the shared database's schema in PostgreSQL)",
    "conflicts": "keeps no conflict log (one database: no concurrent copies to merge)",
    "upgrade-check": "upgrade-check needs cluster.database (strategy replicated)",
}


class SharedStrategy:
    """One database for every member: nothing to copy, nothing to sync; a heartbeat per member."""

    name = "shared"

    def check(self, config: ClusterConfig) -> Cluster:
        """The cluster section, checked for what a shared member needs (the DSN)."""
        return shared_cluster(config)

    def create(self, config: ClusterConfig) -> Created:
        """Record this node as the first member in the shared database (no data to copy, no secret)."""
        from .node import create

        cluster = shared_cluster(config)
        create(config)
        data = "strategy shared: one database, no copy"
        return Created(cluster.node_id, str(cluster.address), 0, cluster.secret_path(), False, data)

    def join(self, config: ClusterConfig, peer: str, progress: Progress | None) -> Joined:
        """Record this node as a member of peer's cluster: membership is rows of the shared database."""
        from .node import join

        cluster = shared_cluster(config)
        join(config, peer)
        host, port = parse_hostport(peer, cluster.port)
        return Joined(cluster.node_id, host, port, 0)

    def interrupted_join(self, config: ClusterConfig) -> str | None:
        """A shared join is one transaction: never half-done."""
        shared_cluster(config)
        return None

    def remove(self, config: ClusterConfig, node_id: str) -> Removed:
        """Delete the member's row of the shared database: every member sees it at its next beat."""
        from .node import remove

        remove(config, node_id)
        return Removed(node_id, "the shared database")

    def status(self, config: ClusterConfig) -> StatusData:
        """Members (with their heartbeat age) and alarms, from the shared database or the last status."""
        from .node import status_data

        return status_data(config)

    def member(self, config: ClusterConfig) -> RunningMember:
        """The heartbeat loop and the health HTTP endpoints."""
        from .node import SharedNode

        return SharedNode(config)

    def own_database(self, config: ClusterConfig, operation: LocalOperation) -> Cluster:
        """A shared member keeps no database of its own: say what to do instead."""
        shared_cluster(config)
        raise ClusterSyncError(f"{config.source}: strategy shared: {NO_OWN_DATABASE[operation]}")

    def data_folders(self, cluster: Cluster) -> list[Path]:
        """None on this node: the data is in the shared database."""
        return []

    def setup_lines(self) -> list[str]:
        """The shared database's address."""
        return ['  dsn: "postgresql://USER@HOST/DB"']
