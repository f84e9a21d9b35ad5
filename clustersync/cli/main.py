"""The `clustersync` command: create, join, run, status."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from habase.errors import ConfigError
from habase.hostport import parse_hostport

from .. import __version__
from ..config import ClusterConfig, load_settings
from ..core.errors import ClusterSyncError
from ..core.status import alarms, lag_seconds, load_health
from ..join.joiner import Progress, join_readiness
from ..ops.control import stopped_reason, version_of
from ..ops.migrate import add_parsers as add_migrate_command
from ..store.local import cluster_of, open_store
from ..wire.protocol import create_secret, load_secret
from .admin import add_commands
from .backup import add_parsers as add_backup_commands
from .conflicts import add_parsers as add_conflict_commands

DEFAULT_CONFIG = "/etc/simplefailover/config.yaml"
SHOWN_CONFLICTS = 50  # entries of the conflict log in status --json and on the HA page
COUNTERS = ("applied", "duplicates", "conflicts", "stale", "quarantined", "released", "too_large")


def _load(path: str) -> ClusterConfig:
    try:
        return load_settings(path)
    except ConfigError as exc:
        lines = "\n".join(f"  {p}" for p in exc.problems)
        raise SystemExit(
            f"{path}: invalid configuration ({len(exc.problems)} problem(s)):\n{lines}"
        ) from None


@dataclass(frozen=True)
class Created:
    """What `create` did: this node's id and address, rows that became the cluster's, the secret."""

    node_id: str
    address: str
    rows: int
    secret_path: Path
    secret_created: bool


def create_cluster(config: ClusterConfig) -> Created:
    """Make this node the first member (the CLI's create and the dashboard's wizard both call this)."""
    from ..join.members import create

    cluster = cluster_of(config)
    if cluster.strategy == "shared":
        from ..shared.node import create as create_shared

        create_shared(config)  # no data to copy and no sync port: the database is the cluster's
        return Created(cluster.node_id, str(cluster.address), 0, cluster.secret_path(), False)
    created = create_secret(cluster.secret_path())
    load_secret(cluster.secret_path())
    store = open_store(config)
    try:
        count = create(store, str(cluster.address), cluster.port, cluster.sync_port())
    finally:
        store.close()
    return Created(cluster.node_id, str(cluster.address), count, cluster.secret_path(), created)


def cmd_create(args: argparse.Namespace) -> int:
    config = _load(args.config)
    done = create_cluster(config)
    if done.secret_created:
        print(f"created the cluster secret {done.secret_path} (mode 0600); copy it to every joining node")
    if config.cluster and config.cluster.strategy == "shared":
        print(f"cluster created on {done.node_id} ({done.address}), strategy shared: one database, no copy")
    else:
        print(f"cluster created on {done.node_id} ({done.address}): {done.rows} rows are the cluster's data")
    print(f"next: clustersync run -c {args.config}")
    return 0


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


def join_cluster(config: ClusterConfig, peer: str, progress: Progress | None = None) -> Joined:
    """Join through a member at peer (ADDRESS[:PORT]); the CLI's join and the dashboard's wizard call this.

    progress, if given, is called with a JoinProgress (phase, bytes, MB/s, ETA) as the join goes.
    """
    from ..join.joiner import join_replicated

    cluster = cluster_of(config)
    if cluster.strategy == "shared":
        from ..shared.node import join as join_shared

        join_shared(config, peer)  # membership is rows of the shared database: nothing to copy
        host, port = parse_hostport(peer, cluster.port)
        return Joined(cluster.node_id, host, port, 0)
    done = join_replicated(config, peer, progress)
    return Joined(done.node_id, done.host, done.port, done.rows, done.size, done.seconds, done.warnings)


def cmd_join(args: argparse.Namespace) -> int:
    from ..join.joiner import printer

    done = join_cluster(_load(args.config), args.peer, printer())
    rate = done.size / done.seconds / 1e6 if done.seconds else 0.0
    print(
        f"{done.node_id} joined through {done.host}:{done.port}: {done.rows} rows copied "
        f"({done.size / 1e6:.1f} MB in {done.seconds:.1f} s, {rate:.1f} MB/s)"
    )
    for warning in done.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"next: clustersync run -c {args.config}")
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    """Complete what was interrupted half-way here (SPEC CL-7): today, a join."""
    from ..join.incoming import Incoming

    config = _load(args.config)
    cluster = cluster_of(config)
    state = None
    if cluster.strategy == "replicated" and cluster.database is not None:
        state = Incoming(cluster.database, cluster.state_dir).load()
    if state is None:
        print("nothing to repair: no interrupted join on this node")
        return 0
    print(f"an interrupted join through {state.peer} was found: completing it")
    args.peer = state.peer
    return cmd_join(args)


def cmd_run(args: argparse.Namespace) -> int:
    from ..sync.runner import run

    config = _load(args.config)
    return run(config, Path(args.config))


def status_data(config: ClusterConfig) -> dict[str, Any]:
    """Members, strategy, alarms and counters of this node, as JSON-ready data."""
    cluster = cluster_of(config)
    if cluster.strategy == "shared":
        from ..shared.node import status_data as shared_status

        return shared_status(config)
    from ..store.reads import ReadOnly

    assert cluster.database is not None  # cluster_of checked it
    store = ReadOnly(cluster.database, cluster.node_id)  # looking never writes to the database
    try:
        health = load_health(cluster.state_dir)
        stale = 3 * cluster.sync_interval + 2 * cluster.timeout + 5
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


def cmd_status(args: argparse.Namespace) -> int:
    data = status_data(_load(args.config))
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    a = data["alarms"]
    print(f"node {data['node_id']} ({data['strategy']}, version {data['version']})")
    if "database" in data:
        problem = f" (NOT REACHABLE: {data['database_error']})" if data["database_error"] else ""
        print(f"shared database: {data['database']}{problem}")
    ready = a["readiness"]
    print(f"readiness: {'ready' if ready['ready'] else 'NOT READY'}: {ready['reason']}")
    act = a["activity"]
    print(f"activity: {act['state']} (peer {act['peer']}, successor {act['successor']})")
    print(f"time alignment: {a['time_alignment']['state']} {a['time_alignment']['detail']}".rstrip())
    if data.get("replication") == "stopped":
        print("replication: STOPPED (clustersync service start to resume)")
    print(f"members:  {'pos':>3}  {'id':<16} {'address':<24} {'version':<10} {'strategy':<10} lag")
    for m in data["members"]:
        mark = " (this node)" if m["local"] else " (sync partner)" if m.get("sync_partner") else ""
        lag = "-" if m.get("lag") is None else f"{m['lag']:.1f} s"
        print(
            f"          {m['position']:>3}  {m['id']:<16} {m['address']:<24} {m['version']:<10} "
            f"{m['strategy']:<10} {lag}{mark}"
        )
    print(f"pending local changes: {data['pending']}; counters: {data['counters']}")
    if data.get("conflicts"):
        print(f"CONFLICTS waiting for acknowledgement: {data['conflicts']} (clustersync conflicts)")
    for q in data.get("quarantine") or []:
        where = f"{q['table']} key {q['key']} from {q['origin']}"
        print(f"QUARANTINED: {where} ({q['tries']} tries): {q['error']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clustersync", description="Keep the cluster's SQLite data in sync."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, func, text in (
        ("create", cmd_create, "make this node the first member; its data becomes the cluster's"),
        ("join", cmd_join, "join a cluster through a member; this node's replicated data is replaced"),
        ("run", cmd_run, "serve and sync with the successor in ring order"),
        ("status", cmd_status, "members, strategy and the three alarms"),
        ("repair", cmd_repair, "complete a join interrupted half-way (the same as running it again)"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("-c", "--config", default=DEFAULT_CONFIG)
        cmd.set_defaults(func=func)
        if name == "join":
            cmd.add_argument(
                "--peer", required=True, metavar="ADDRESS[:PORT]", help="any member (control port)"
            )
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print JSON")
    add_commands(sub, _load, DEFAULT_CONFIG)
    add_backup_commands(sub, _load, DEFAULT_CONFIG)
    add_conflict_commands(sub, _load, DEFAULT_CONFIG)
    add_migrate_command(sub, _load, DEFAULT_CONFIG)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.command == "run" else logging.WARNING
    level = max(logging.DEBUG, level - 10 * args.verbose)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ClusterSyncError as exc:
        print(f"clustersync {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
