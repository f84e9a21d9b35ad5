"""The `clustersync` command: create, join, run, status."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .. import __version__, api
from ..api import ClusterConfig, JoinProgress, Progress
from .admin import add_commands
from .backup import add_parsers as add_backup_commands
from .conflicts import add_parsers as add_conflict_commands

DEFAULT_CONFIG = "/etc/simplefailover/config.yaml"


def _load(path: str) -> ClusterConfig:
    try:
        return api.load_settings(path)
    except api.ConfigError as exc:
        lines = "\n".join(f"  {p}" for p in exc.problems)
        raise SystemExit(
            f"{path}: invalid configuration ({len(exc.problems)} problem(s)):\n{lines}"
        ) from None


def cmd_create(args: argparse.Namespace) -> int:
    done = api.create(_load(args.config))
    if done.secret_created:
        print(f"created the cluster secret {done.secret_path} (mode 0600); copy it to every joining node")
    print(done.summary())
    print(f"next: clustersync run -c {args.config}")
    return 0


def printer(stream: TextIO = sys.stdout, every: float = 1.0) -> Progress:
    """A progress callback for a terminal: one line rewritten in place, or a line per phase or second."""
    tty = stream.isatty()
    last: list[JoinProgress | None] = [None, None]  # the last shown, the last not shown
    last_at = [0.0]

    def write(p: JoinProgress) -> None:
        if tty:
            stream.write("\r" + p.line().ljust(79) + ("\n" if p.phase in ("done", "retry") else ""))
        else:
            stream.write(p.line() + "\n")
        stream.flush()
        last[0], last[1], last_at[0] = p, None, time.monotonic()

    def show(p: JoinProgress) -> None:
        shown, skipped = last
        if (
            shown is not None
            and p.phase == shown.phase
            and time.monotonic() - last_at[0] < (0.2 if tty else every)
        ):
            last[1] = p
            return
        if skipped is not None and skipped.phase != p.phase:
            write(skipped)  # the phase's final figure
        write(p)

    return show


def cmd_join(args: argparse.Namespace) -> int:
    done = api.join(_load(args.config), args.peer, printer())
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
    peer = api.interrupted_join(_load(args.config))
    if peer is None:
        print("nothing to repair: no interrupted join on this node")
        return 0
    print(f"an interrupted join through {peer} was found: completing it")
    args.peer = peer
    return cmd_join(args)


def cmd_run(args: argparse.Namespace) -> int:
    return api.run(_load(args.config), Path(args.config))


def cmd_status(args: argparse.Namespace) -> int:
    data = api.status(_load(args.config))
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.command == "run" else logging.WARNING
    level = max(logging.DEBUG, level - 10 * args.verbose)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except api.ClusterSyncError as exc:
        print(f"clustersync {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
