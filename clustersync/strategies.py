"""The one place where a cluster's `strategy` name becomes the object that does the work."""

from __future__ import annotations

from .config import ClusterConfig
from .core.errors import ClusterSyncError
from .core.strategy import Strategy
from .shared.strategy import SharedStrategy
from .sync.replicated import ReplicatedStrategy

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (ReplicatedStrategy(), SharedStrategy())}


def strategy_for(config: ClusterConfig) -> Strategy:
    """The strategy this node's cluster section names (the section checked by strategy.check)."""
    cluster = config.cluster
    if cluster is None:
        raise ClusterSyncError(f"{config.source}: no cluster: section")
    return STRATEGIES[cluster.strategy]


def setup_snippet(address: str, strategy: str) -> str:
    """A minimal cluster: section for this node, to paste into config.yaml."""
    lines = ["cluster:", f'  address: "{address}"', f"  strategy: {strategy}"]
    lines += STRATEGIES.get(strategy, STRATEGIES["replicated"]).setup_lines()  # unknown: the default
    lines += ["  state_dir: /var/lib/clustersync", "  # secret_file: /etc/simplefailover/cluster.secret"]
    return "\n".join(lines)
