"""`clustersync conflicts [--json] [--all]` and `clustersync conflicts ack (ID... | --all)`.

The conflict log is node-local: each entry is on the member(s) where the two versions
met. Listing opens the database read-only; acknowledging only marks entries.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from .. import api

Loader = Callable[[str], api.ClusterConfig]


def _describe(e: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"]))
    what = "insert collision" if e["kind"] == "insert" else f"column {e['column']}" if e["column"] else "row"
    if e["kind"] == "delete":  # merge.Lost: the loser has no row when the delete lost
        what = "delete lost to a later write" if e["loser"] is None else "update lost to a later delete"
    state = " (acknowledged)" if e["acked"] else ""
    return (
        f"#{e['id']} {when} {e['table']} key {e['key']}: {what}{state}\n"
        f"    kept     {e['winner_origin']} @{e['winner_hlc']}: {e['winner'] or '(no row)'}\n"
        f"    replaced {e['loser_origin']} @{e['loser_hlc']}: {e['loser'] or '(no row)'}"
    )


def cmd_conflicts(args: argparse.Namespace) -> int:
    config = args.load(args.config)
    if args.action == "ack":
        if not args.ids and not args.all:
            raise api.ClusterSyncError("conflicts ack: give the entry numbers (ID...) or --all")
        done = api.acknowledge_conflicts(config, None if args.all else args.ids)
        print(f"{done} conflict(s) acknowledged")
        return 0
    entries = api.conflicts(config, acknowledged=args.all)
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    if not entries:
        print(f"no conflicts waiting on {api.check(config).node_id}")
        return 0
    for e in entries:
        print(_describe(e))
    noun = "entry" if len(entries) == 1 else "entries"
    print(f"{len(entries)} {noun}; acknowledge with: clustersync conflicts ack ID...")
    return 0


def add_parsers(sub: Any, load: Loader, default_config: str) -> None:
    """Register `conflicts` on the clustersync parser's subcommands."""
    cmd = sub.add_parser("conflicts", help="rows overwritten by concurrent writes, until acknowledged")
    cmd.add_argument("action", nargs="?", choices=("list", "ack"), default="list")
    cmd.add_argument("ids", nargs="*", type=int, metavar="ID", help="entries to acknowledge")
    cmd.add_argument("--all", action="store_true", help="list: acknowledged ones too; ack: every entry")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.add_argument("-c", "--config", default=default_config)
    cmd.set_defaults(func=cmd_conflicts, load=load)
