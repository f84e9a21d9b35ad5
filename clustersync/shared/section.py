"""The cluster section, checked for what a shared member needs (without the PostgreSQL driver).

Apart from node.py so that choosing the strategy, and the messages of a shared node that
has no driver installed, never import psycopg.
"""

from __future__ import annotations

from ..config import Cluster, ClusterConfig
from ..core.errors import ClusterSyncError
from ..store.local import require_section


def shared_cluster(config: ClusterConfig) -> Cluster:
    """The cluster section, checked for what a shared member needs."""
    cluster = config.cluster
    if cluster is not None and (cluster.strategy != "shared" or not cluster.dsn):
        raise ClusterSyncError(f"{config.source}: cluster.dsn is required for strategy shared")
    return require_section(config)
