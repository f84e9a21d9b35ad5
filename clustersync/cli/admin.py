"""The `clustersync remove|service|upgrade-check` commands: thin printing over clustersync.control."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..config import ClusterConfig
from ..ops.control import remove_member, set_replication, stopped_reason, upgrade_check

Loader = Callable[[str], ClusterConfig]


def _cmd_remove(load: Loader) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        done = remove_member(load(args.config), args.node_id)
        print(f"{done.node_id} removed (recorded by {done.via}); every member learns it through the ring")
        print(f"{done.node_id} stops syncing when it hears of it and keeps its data; it may join again later")
        return 0

    return run


def _cmd_service(load: Loader) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from ..store.local import cluster_of

        cluster = cluster_of(load(args.config))
        if args.action == "status":
            why = stopped_reason(cluster.state_dir)
            print(f"replication on {cluster.node_id}: " + (f"stopped ({why})" if why else "running"))
            return 3 if why else 0
        print(set_replication(cluster, args.action == "start"))
        return 0

    return run


def _cmd_upgrade_check(load: Loader) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        verdict = upgrade_check(load(args.config))
        print(verdict.message)
        return 0 if verdict.ok else 1

    return run


def add_commands(sub: Any, load: Loader, default_config: str) -> None:
    """Register remove, service and upgrade-check on the clustersync parser's subcommands."""
    remove = sub.add_parser("remove", help="remove a member from the cluster (run on any member)")
    remove.add_argument("node_id", metavar="NODE_ID", help="the member to remove")
    remove.set_defaults(func=_cmd_remove(load))
    service = sub.add_parser(
        "service", help="stop or start replication on this node (status: exit 3 if stopped)"
    )
    service.add_argument("action", choices=("start", "stop", "status"))
    service.set_defaults(func=_cmd_service(load))
    check = sub.add_parser(
        "upgrade-check",
        help="warn (exit 1) when this node is updated before the first node (lowest position)",
    )
    check.set_defaults(func=_cmd_upgrade_check(load))
    for cmd in (remove, service, check):
        cmd.add_argument("-c", "--config", default=default_config)
