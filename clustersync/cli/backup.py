"""The `clustersync backup` and `clustersync restore` commands (argument parsing and output)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import api

Loader = Callable[[str], api.ClusterConfig]


def cmd_backup(args: argparse.Namespace) -> int:
    kind: api.Kind = "full" if args.full else "light"
    out = Path(args.output)
    manifest = api.backup(args.load(args.config), Path(args.config), kind, out, args.include_secret)
    rows = {role: manifest.rows(role) for role in ("replicated", "history", "local")}
    print(
        f"{kind} backup of {manifest.node_id} written to {out} (mode 0600): "
        f"{rows['replicated']} replicated rows, {rows['history']} history rows, "
        f"{rows['local']} node-local rows"
    )
    if kind == "light":
        print("history tables (cluster.tables.history) are not in a light backup")
    if manifest.secret_included:
        print("the cluster secret IS in this backup: keep the file as safe as the secret itself")
    else:
        print("the cluster secret is not in this backup (--include-secret to add it)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    done = api.restore(args.load(args.config), Path(args.config), Path(args.input))
    m = done.manifest
    print(
        f"restored the {m.kind} backup of {m.node_id} (made {_when(m.created)}) into {done.database}: "
        f"{m.rows('replicated')} replicated rows, {m.rows('history')} history rows, "
        f"{m.rows('local')} node-local rows"
    )
    for note in done.notes:
        print(f"note: {note}")
    if done.previous is not None:
        print(f"the database it replaced is kept as {done.previous}")
    if done.config_copy is not None:
        print(f"the backed-up config file differs from {args.config}; it is in {done.config_copy}")
    if done.secret is not None:
        print(f"the backed-up cluster secret was written to {done.secret}")
    print("this node is not a cluster member: its restored replicated data becomes the cluster's with")
    print(f"  clustersync create -c {args.config}")
    print("or is replaced by a member's (node-local tables kept) with")
    print(f"  clustersync join -c {args.config} --peer ADDRESS")
    return 0


def _when(created: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(created))


def add_parsers(sub: Any, load: Loader, default_config: str) -> None:
    """Add backup and restore to the clustersync command's subparsers."""
    cmd = sub.add_parser("backup", help="write a consistent backup of this node (full or light)")
    cmd.add_argument("-c", "--config", default=default_config)
    kind = cmd.add_mutually_exclusive_group(required=True)
    kind.add_argument("--full", action="store_true", help="replicated data with history, local data, config")
    kind.add_argument("--light", action="store_true", help="the same without the history tables")
    cmd.add_argument("-o", "--output", required=True, metavar="OUT", help="archive to write (tar.gz)")
    cmd.add_argument(
        "--include-secret", action="store_true", help="also store the cluster secret (not done by default)"
    )
    cmd.set_defaults(func=cmd_backup, load=load)
    cmd = sub.add_parser("restore", help="restore a backup on a node that is not a cluster member")
    cmd.add_argument("-c", "--config", default=default_config)
    cmd.add_argument("input", metavar="IN", help="backup archive written by clustersync backup")
    cmd.set_defaults(func=cmd_restore, load=load)
