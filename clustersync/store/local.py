"""This node's cluster section, checked for a replicated member, and its own database, opened.

Which strategy a cluster uses is asked of clustersync.strategies, once; what is here serves
the replicated strategy only (the shared one checks its section in shared/strategy.py).
"""

from __future__ import annotations

import time

from ..config import Cluster, ClusterConfig
from ..core.errors import ClusterSyncError
from .database import Store


def require_section(config: ClusterConfig) -> Cluster:
    """The cluster section with what every member needs (an address other members use)."""
    cluster, where = config.cluster, config.source
    if cluster is None:
        raise ClusterSyncError(f"{where}: no cluster: section")
    if cluster.address is None:
        raise ClusterSyncError(f"{where}: cluster.address is required (the address other members use)")
    return cluster


def replicated_cluster(config: ClusterConfig) -> Cluster:
    """The cluster section, checked for what a replicated member needs."""
    cluster = config.cluster
    if cluster is not None and cluster.database is None:
        raise ClusterSyncError(f"{config.source}: cluster.database is required for strategy replicated")
    return require_section(config)


def open_store(config: ClusterConfig) -> Store:
    """Open this node's database with capture installed."""
    cluster = replicated_cluster(config)
    assert cluster.database is not None  # replicated_cluster checked it
    offset = cluster.test_clock_offset
    cluster.database.parent.mkdir(parents=True, exist_ok=True)
    return Store(
        cluster.database,
        cluster.node_id,
        list(cluster.tables.replicated),
        clock=(lambda: time.time() + offset) if offset else time.time,
        where=f"{config.source}: cluster.tables.replicated",
    )
