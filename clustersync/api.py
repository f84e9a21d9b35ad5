"""clustersync's one door: what the `clustersync` command and simplefailover ask of it.

The CLI (clustersync/cli) is argument parsing and printing over these functions; the
dashboard's High Availability page and simplefailover's history call them too, and
simplefailover's config embeds the `cluster:` model from here (so `simplefailover check`
reports that section's errors with file and line, validated by clustersync's own model):
simplefailover imports nothing else of clustersync (tests/test_import_graph.py checks it).
Each function takes the loaded config (clustersync's Settings, or simplefailover's whole
Config: both are a ClusterConfig); the choice between the replicated and the shared
strategy is made once, by strategies.strategy_for, never tested here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from habase.errors import ConfigError

from .config import Cluster, ClusterConfig, Settings, load_settings
from .core.errors import ClusterSyncError
from .core.strategy import Created, Joined, JoinProgress, Progress, Removed, StatusData, Strategy

if TYPE_CHECKING:
    from .ops.backup import Kind, Manifest
    from .ops.control import UpgradeCheck
    from .ops.restore import Restored

# What runs a command is imported by the function that runs it: simplefailover imports this
# module for the cluster: model whether or not this node is in a cluster, and that costs
# no more than the model.

__all__ = [
    "STRATEGY_NAMES", "Cluster", "ClusterConfig", "ClusterSyncError", "ConfigError", "Created",
    "JoinProgress", "Joined", "Progress", "Removed", "Settings", "StatusData",
    "acknowledge_conflicts", "alarms", "backup", "check", "check_config", "conflicts", "create",
    "events", "health", "interrupted_join", "join", "load_settings", "migrate", "remove",
    "replication_stopped", "restore", "run", "set_replication", "setup_snippet", "status",
    "upgrade_check", "written_folders",
]  # fmt: skip

STRATEGY_NAMES: tuple[str, ...] = get_args(Cluster.model_fields["strategy"].annotation)


def _strategy(config: ClusterConfig) -> Strategy:
    from .strategies import strategy_for

    return strategy_for(config)


def written_folders(config: ClusterConfig) -> list[Path]:
    """The folders clustersync writes on this node (state_dir, the strategy's data); [] without a cluster."""
    from .strategies import STRATEGIES

    cluster = config.cluster
    if cluster is None:
        return []
    return [cluster.state_dir, *STRATEGIES[cluster.strategy].data_folders(cluster)]


def setup_snippet(address: str, strategy: str) -> str:
    """A minimal cluster: section for this node, to paste into config.yaml (the HA page's wizard)."""
    from .strategies import setup_snippet as snippet

    return snippet(address, strategy)


def check_config(path: str | os.PathLike[str]) -> list[str]:
    """Every problem in clustersync's sections of a config file (file and line in each); [] when valid."""
    try:
        load_settings(path)
    except ConfigError as exc:
        return exc.problems
    return []


def check(config: ClusterConfig) -> Cluster:
    """This node's cluster section, checked for what its strategy needs (else ClusterSyncError)."""
    return _strategy(config).check(config)


# ------------------------------------------------------------------ membership


def create(config: ClusterConfig) -> Created:
    """Make this node the first member of a cluster."""
    return _strategy(config).create(config)


def join(config: ClusterConfig, peer: str, progress: Progress | None = None) -> Joined:
    """Join the cluster through the member at peer (ADDRESS[:PORT]).

    progress, if given, is called with a JoinProgress (phase, bytes, MB/s, ETA) as the join goes.
    """
    strategy = _strategy(config)
    strategy.check(config)
    return strategy.join(config, peer, progress)


def interrupted_join(config: ClusterConfig) -> str | None:
    """The member a join interrupted half-way here went through (join it again to complete), or None."""
    return _strategy(config).interrupted_join(config)


def remove(config: ClusterConfig, node_id: str) -> Removed:
    """Remove a member from the cluster, from any member; it keeps its data and may join again."""
    strategy = _strategy(config)
    strategy.check(config)
    return strategy.remove(config, node_id)


def run(config: ClusterConfig, config_path: Path) -> int:
    """Run this node's member as a service until SIGTERM (`clustersync run`); the exit status."""
    from .sync import runner

    return runner.run(config, config_path)


# ------------------------------------------------------------------ looking (reads never write)


def status(config: ClusterConfig) -> StatusData:
    """Members, strategy, alarms and counters of this node, as JSON-ready data."""
    strategy = _strategy(config)
    strategy.check(config)
    return strategy.status(config)


def health(config: ClusterConfig) -> dict[str, Any] | None:
    """What this node's `clustersync run` last wrote to state_dir/status.json, or None."""
    from .core.status import load_health

    return load_health(config.cluster.state_dir) if config.cluster is not None else None


def alarms(config: ClusterConfig, last: dict[str, Any], running: bool, now: float) -> dict[str, Any]:
    """The three alarms (readiness, activity, time alignment) from a status last written by `run`.

    running says whether the process that wrote it still exists: if not, nothing is fresh.
    """
    from .core.status import alarms as evaluate
    from .core.status import stale_after

    cluster = config.cluster
    assert cluster is not None
    stale = stale_after(cluster.sync_interval, cluster.timeout)
    return evaluate(bool(last.get("member", True)), last if running else None, stale, now)


def events(config: ClusterConfig, limit: int = 20) -> list[dict[str, Any]]:
    """The newest cluster events of this node (alarm changes, reloads), newest first."""
    from .ops import event_log

    return event_log.recent(config.cluster.state_dir, limit) if config.cluster is not None else []


def conflicts(config: ClusterConfig, acknowledged: bool = False) -> list[dict[str, Any]]:
    """The conflict log of this node: entries not yet acknowledged (all with acknowledged=True)."""
    from .store.reads import ReadOnly

    cluster = _strategy(config).own_database(config, "conflicts")
    assert cluster.database is not None
    with ReadOnly(cluster.database, cluster.node_id) as store:
        return store.conflicts(acked=acknowledged)


def acknowledge_conflicts(config: ClusterConfig, ids: list[int] | None) -> int:
    """Mark conflict-log entries as seen (ids None: every entry); return how many."""
    import sqlite3

    from .store.conflicts import acknowledge
    from .store.schema import connect, install

    cluster = _strategy(config).own_database(config, "conflicts")
    database = cluster.database
    db = connect(str(database))
    try:
        db.execute("BEGIN IMMEDIATE")
        install(db, [], "conflicts ack")  # an older database gains the log's columns first
        done = acknowledge(db, ids)
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise ClusterSyncError(f"acknowledging conflicts in {database}: {exc}") from exc
    finally:
        db.close()
    return done


# ------------------------------------------------------------------ operations


def replication_stopped(config: ClusterConfig) -> str | None:
    """Why replication is stopped on this node (`clustersync service stop`), or None when it runs."""
    from .ops.control import stopped_reason

    return stopped_reason(config.cluster.state_dir) if config.cluster is not None else None


def set_replication(config: ClusterConfig, running: bool) -> str:
    """Stop or start replication on this node (the running member obeys within a tick); say what changed."""
    from .ops import control

    return control.set_replication(check(config), running)


def upgrade_check(config: ClusterConfig) -> UpgradeCheck:
    """Whether updating this node now respects "the first node (lowest position) first"."""
    from .ops import control

    _strategy(config).own_database(config, "upgrade-check")
    return control.upgrade_check(config)


def backup(
    config: ClusterConfig, config_path: Path, kind: Kind, out: Path, include_secret: bool = False
) -> Manifest:
    """Write a consistent backup of this node (full or light) to out; return its manifest."""
    from .ops.backup import make_backup

    _strategy(config).own_database(config, "backup")
    return make_backup(config, config_path, kind, out, include_secret)


def restore(config: ClusterConfig, config_path: Path, archive: Path) -> Restored:
    """Restore a backup on this node, which must not be a member; what was done."""
    from .ops.restore import restore_backup

    _strategy(config).own_database(config, "restore")
    return restore_backup(config, config_path, archive)


def migrate(config: ClusterConfig, script: str, expect: int | None, here: bool = False) -> list[str]:
    """Apply a schema change on every member in ring order (here: this one only); one line per member."""
    from .ops.migrate import migrate as apply_script
    from .ops.migrate import migrate_ring

    cluster = _strategy(config).own_database(config, "migrate")
    if not here:
        return migrate_ring(config, script, expect)
    assert cluster.database is not None
    version = apply_script(cluster.database, list(cluster.tables.replicated), script, expect)
    return [f"{cluster.node_id}: schema version {version}"]
