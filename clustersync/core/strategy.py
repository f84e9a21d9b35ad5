"""The Strategy interface: what differs between a replicated and a shared cluster, in one place.

A cluster's `strategy` is chosen once, in config.yaml; `clustersync.strategies.strategy_for`
turns it into one of two objects (sync.replicated.ReplicatedStrategy, shared.strategy.
SharedStrategy) and every command asks that object instead of testing the name again.
This module only describes the interface and the values its methods return: pure data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from ..config import Cluster, ClusterConfig

StatusData = dict[str, Any]  # JSON-ready: `clustersync status --json` prints it, the HA page shows it
# The operations that need this node's own SQLite database (a shared member has none).
LocalOperation = Literal["backup", "restore", "migrate", "conflicts", "upgrade-check"]


@dataclass(frozen=True)
class JoinProgress:
    """Where a join is: phase (connect, snapshot, transfer, retry, verify, install, done), bytes, speed."""

    phase: str
    done: int = 0
    total: int = 0
    elapsed: float = 0.0  # seconds since the command started
    rate: float = 0.0  # bytes/s received by this command
    detail: str = ""

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, when known."""
        return (self.total - self.done) / self.rate if self.rate > 0 and self.total else None

    def line(self) -> str:
        """One human-readable line."""
        text = f"{self.elapsed:6.1f} s  {self.phase:<9}"
        if self.total:
            text += f" {self.done / 1e6:9.1f} / {self.total / 1e6:.1f} MB"
        if self.rate:
            text += f"  {self.rate / 1e6:7.1f} MB/s"
        if self.eta is not None and self.phase == "transfer":
            text += f"  ETA {self.eta:.0f} s"
        return text + (f"  {self.detail}" if self.detail else "")


Progress = Callable[[JoinProgress], None]


@dataclass(frozen=True)
class Created:
    """What `create` did: this node's id and address, what became the cluster's data, the secret."""

    node_id: str
    address: str
    rows: int
    secret_path: Path
    secret_created: bool
    data: str  # what became the cluster's data, in words

    def summary(self) -> str:
        """One line for the operator."""
        return f"cluster created on {self.node_id} ({self.address}): {self.data}"


@dataclass(frozen=True)
class Joined:
    """What `join` did: this node's id, the member it joined through, rows copied."""

    node_id: str
    host: str
    port: int
    rows: int
    size: int = 0  # bytes of the snapshot received
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Removed:
    """What `remove` did: who, and through which member."""

    node_id: str
    via: str


class RunningMember(Protocol):
    """A running member, replicated (sync.daemon.Node) or shared (shared.node.SharedNode)."""

    config: ClusterConfig
    cluster: Cluster

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def apply(self, config: ClusterConfig) -> None: ...


class Strategy(Protocol):
    """How a cluster keeps its data: each member a copy it syncs (replicated), or one database (shared)."""

    name: str  # as cluster.strategy spells it

    def check(self, config: ClusterConfig) -> Cluster:
        """The cluster section, checked for what a member of this strategy needs."""
        ...

    def create(self, config: ClusterConfig) -> Created:
        """Make this node the first member."""
        ...

    def join(self, config: ClusterConfig, peer: str, progress: Progress | None) -> Joined:
        """Join the cluster through the member at peer (ADDRESS[:PORT])."""
        ...

    def interrupted_join(self, config: ClusterConfig) -> str | None:
        """The member a join interrupted half-way here went through, or None."""
        ...

    def remove(self, config: ClusterConfig, node_id: str) -> Removed:
        """Remove a member from the cluster, from any member."""
        ...

    def status(self, config: ClusterConfig) -> StatusData:
        """Members, alarms and counters of this node (reads only)."""
        ...

    def member(self, config: ClusterConfig) -> RunningMember:
        """The member `clustersync run` runs on this node."""
        ...

    def own_database(self, config: ClusterConfig, operation: LocalOperation) -> Cluster:
        """The cluster section when this node keeps its own database for operation; else say why not."""
        ...

    def data_folders(self, cluster: Cluster) -> list[Path]:
        """The folders this strategy's data lives in on this node, besides cluster.state_dir."""
        ...

    def setup_lines(self) -> list[str]:
        """The strategy's own lines of a minimal cluster: section (the HA page's snippet)."""
        ...
