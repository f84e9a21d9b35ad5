"""`simplefailover events -c FILE [--since T] [--node N] [--kind K] [--json|--csv]`."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from typing import Any

from ..ops.configfile import load_or_report
from . import formats, store
from .formats import parse_time


def add_events_command(sub: Any, default_config: str) -> None:
    events = sub.add_parser("events", help="list the recorded history (what happened last night?)")
    events.add_argument("-c", "--config", default=default_config)
    events.add_argument(
        "--since", metavar="T", help="from: 12h, 30m, 7d ago, or 2026-12-03T22:00 (default 24h)"
    )
    events.add_argument("--until", metavar="T", help="up to (default: now)")
    events.add_argument("--node", metavar="N", help="only events about this node")
    events.add_argument(
        "--kind", action="append", metavar="K", help="only this kind (check, answer, mail, audit...)"
    )
    events.add_argument("--limit", type=int, metavar="N", help="at most the last N")
    form = events.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON")
    form.add_argument("--csv", action="store_true", help="print CSV")
    events.set_defaults(func=cmd_events)


def cmd_events(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    now = time.time()
    try:
        since = parse_time(args.since or "24h", now)
        until = parse_time(args.until, now) if args.until else None
    except ValueError as exc:
        print(f"simplefailover events: {exc}", file=sys.stderr)
        return 2
    path = store.default_path(config, args.config)
    try:
        db = store.connect(path)
        try:
            found = store.events(
                db, since, until, args.node, args.kind, args.limit, newest_first=args.limit is not None
            )
        finally:
            db.close()
    except (FileNotFoundError, sqlite3.Error) as exc:
        print(f"simplefailover events: {path}: {exc}", file=sys.stderr)
        return 1
    if args.limit is not None:
        found.reverse()
    if args.json:
        print(formats.as_json(found))
    elif args.csv:
        sys.stdout.write(formats.as_csv(found))
    elif found:
        print(formats.as_text(found))
    else:
        print(f"no events since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))} in {path}")
    return 0
