"""The `clustersync remove|service|upgrade-check|migrate` commands: thin printing over clustersync.api."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import api

Loader = Callable[[str], api.ClusterConfig]


def _cmd_remove(load: Loader) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        done = api.remove(load(args.config), args.node_id)
        print(f"{done.node_id} removed (recorded by {done.via}); every member learns it through the ring")
        print(f"{done.node_id} stops syncing when it hears of it and keeps its data; it may join again later")
        return 0

    return run


def _cmd_service(load: Loader) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        config = load(args.config)
        if args.action == "status":
            node_id = api.check(config).node_id
            why = api.replication_stopped(config)
            print(f"replication on {node_id}: " + (f"stopped ({why})" if why else "running"))
            return 3 if why else 0
        print(api.set_replication(config, args.action == "start"))
        return 0

    return run


def _cmd_upgrade_check(load: Loader) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        verdict = api.upgrade_check(load(args.config))
        print(verdict.message)
        return 0 if verdict.ok else 1

    return run


def _cmd_migrate(load: Loader) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        config = load(args.config)
        api.check(config)
        try:
            script = Path(args.script).read_text()
        except OSError as exc:
            raise api.ClusterSyncError(f"{args.script}: {exc.strerror}") from None
        for line in api.migrate(config, script, args.from_version, args.here):
            print(line)
        return 0

    return run


def add_commands(sub: Any, load: Loader, default_config: str) -> None:
    """Register remove, service, upgrade-check and migrate on the clustersync parser's subcommands."""
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
    migrate = sub.add_parser(
        "migrate", help="apply a schema change (DDL script) on every member, in ring order"
    )
    migrate.add_argument("script", metavar="SCRIPT.sql")
    migrate.add_argument(
        "--here", action="store_true", help="this member only (default: every member, in ring order)"
    )
    migrate.add_argument(
        "--from", dest="from_version", type=int, metavar="N", help="only if at schema version N"
    )
    migrate.set_defaults(func=_cmd_migrate(load))
    for cmd in (remove, service, check, migrate):
        cmd.add_argument("-c", "--config", default=default_config)
