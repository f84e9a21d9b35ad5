"""This node's cluster section, checked, and its own database, opened (replicated strategy).

Nothing here imports the shared strategy's driver: the modules that need it import it when used.
"""

from __future__ import annotations

import time

from ..config import Cluster, ClusterConfig
from ..core.errors import ClusterSyncError
from .database import Store


def shared_cluster(config: ClusterConfig) -> Cluster:
    """The cluster section, checked for what a shared member needs."""
    cluster, where = config.cluster, config.source
    if cluster is None:
        raise ClusterSyncError(f"{where}: no cluster: section")
    if cluster.strategy != "shared" or not cluster.dsn:
        raise ClusterSyncError(f"{where}: cluster.dsn is required for strategy shared")
    if cluster.address is None:
        raise ClusterSyncError(f"{where}: cluster.address is required (the address other members use)")
    return cluster


def cluster_of(config: ClusterConfig) -> Cluster:
    """The cluster section, checked for what a replicated member needs."""
    cluster = config.cluster
    where = config.source
    if cluster is None:
        raise ClusterSyncError(f"{where}: no cluster: section")
    if cluster.strategy == "shared":
        return shared_cluster(config)
    if cluster.database is None:
        raise ClusterSyncError(f"{where}: cluster.database is required for strategy replicated")
    if cluster.address is None:
        raise ClusterSyncError(f"{where}: cluster.address is required (the address other members use)")
    return cluster


def open_store(config: ClusterConfig) -> Store:
    """Open this node's database with capture installed."""
    cluster = cluster_of(config)
    if cluster.strategy != "replicated" or cluster.database is None:
        raise ClusterSyncError(
            f"{config.source}: strategy {cluster.strategy} keeps no local sync database (cluster.database)"
        )
    offset = cluster.test_clock_offset
    cluster.database.parent.mkdir(parents=True, exist_ok=True)
    return Store(
        cluster.database,
        cluster.node_id,
        list(cluster.tables.replicated),
        clock=(lambda: time.time() + offset) if offset else time.time,
        where=f"{config.source}: cluster.tables.replicated",
    )
