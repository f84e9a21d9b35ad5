"""`simplefailover maintenance on|off|list`, `pin`, `unpin`: ask the running service (SF-11)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any

from ..config import load_config
from .overrides import FOREVER, parse_duration, parse_time, when
from .store import ask, control_path


def add_control_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], default_config: str
) -> None:
    maint = sub.add_parser(
        "maintenance", help="take a node out on purpose (cluster-wide), or list who is out"
    )
    actions = maint.add_subparsers(dest="action", required=True, metavar="on|off|list")
    on = actions.add_parser("on", help="put NODE in maintenance: never answered, failures not mailed")
    on.add_argument("node", metavar="NODE")
    _window_arguments(on)
    on.add_argument("--force", action="store_true", help="even if a hostname is left with no OK node")
    off = actions.add_parser("off", help="end NODE's maintenance now")
    off.add_argument("node", metavar="NODE")
    off.add_argument("--reason", default="", help="why, for the audit and the mail")
    listing = actions.add_parser("list", help="maintenance windows and pins, in force or to come")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for parser in (on, off, listing):
        parser.add_argument("-c", "--config", default=default_config)
    maint.set_defaults(func=cmd_maintenance)

    pin = sub.add_parser("pin", help="answer NODE for HOSTNAME whatever the checks say (cluster-wide)")
    pin.add_argument("hostname", metavar="HOSTNAME")
    pin.add_argument("node", metavar="NODE")
    _window_arguments(pin)
    pin.add_argument("-c", "--config", default=default_config)
    pin.set_defaults(func=cmd_pin)
    unpin = sub.add_parser("unpin", help="let the checks choose HOSTNAME's answer again")
    unpin.add_argument("hostname", metavar="HOSTNAME")
    unpin.add_argument("--reason", default="", help="why, for the audit and the mail")
    unpin.add_argument("-c", "--config", default=default_config)
    unpin.set_defaults(func=cmd_pin)

    admin = sub.add_parser(
        "admin-password", help="write the dashboard's administrator password and API token (turns actions on)"
    )
    admin.add_argument("-c", "--config", default=default_config)
    admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    admin.set_defaults(func=cmd_admin_password)


def _window_arguments(parser: argparse.ArgumentParser) -> None:
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--for", dest="duration", metavar="DURATION", help="how long: 30m, 2h, 1d")
    length.add_argument("--until", metavar="TIME", help="when it ends: 22:00 or 2026-12-03T22:00+00:00")
    parser.add_argument("--at", metavar="TIME", help="when it starts (default: now): scheduled ahead")
    parser.add_argument("--reason", default="", help="why, for the audit and the mail")


def _window(args: argparse.Namespace) -> dict[str, Any]:
    now = time.time()
    start = parse_time(args.at, now) if args.at else now
    end: float | None = None
    if args.duration:
        end = start + parse_duration(args.duration)
    elif args.until:
        end = parse_time(args.until, start)
    return {"start": start, "end": end, "reason": args.reason}


def _send(args: argparse.Namespace, request: dict[str, Any]) -> dict[str, Any] | None:
    try:
        config = load_config(args.config)
    except Exception as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return None
    request["who"] = getpass.getuser()
    return ask(control_path(config, args.config), request)


def _report(reply: dict[str, Any] | None) -> int:
    if reply is None:
        return 2
    if not reply.get("ok"):
        print(f"refused: {reply.get('message')}", file=sys.stderr)
        return 1
    print(reply.get("message", "done"))
    return 0


def cmd_maintenance(args: argparse.Namespace) -> int:
    try:
        if args.action == "list":
            reply = _send(args, {"action": "list"})
            if reply is None:
                return 2
            if args.json:
                print(json.dumps(reply["entries"], indent=1))
            else:
                print(render(reply["entries"], float(reply["now"])))
            return 0
        request: dict[str, Any] = {"action": f"maintenance_{args.action}", "target": args.node}
        if args.action == "on":
            request |= _window(args) | {"force": args.force}
        else:
            request["reason"] = args.reason
    except ValueError as exc:
        print(f"simplefailover maintenance: {exc}", file=sys.stderr)
        return 2
    return _report(_send(args, request))


def cmd_pin(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"action": args.command, "target": args.hostname}
    try:
        if args.command == "pin":
            request |= _window(args) | {"node": args.node}
        else:
            request["reason"] = args.reason
    except ValueError as exc:
        print(f"simplefailover {args.command}: {exc}", file=sys.stderr)
        return 2
    return _report(_send(args, request))


def render(entries: list[dict[str, Any]], now: float) -> str:
    """The list as a table: what, since/from, until, who, why."""
    if not entries:
        return "no node in maintenance, no hostname pinned"
    lines = [f"{'WHAT':<34} {'STATE':<9} {'FROM':<24} {'UNTIL':<24} {'WHO':<12} WHY"]
    for e in entries:
        what = e["target"] if e["kind"] == "maintenance" else f"{e['target']} -> {e['node']}"
        state = ("MAINT" if e["kind"] == "maintenance" else "PINNED") if e["start"] <= now else "scheduled"
        end = FOREVER if e["end"] is None else e["end"]
        until = "until switched off" if end == FOREVER else when(end)
        lines.append(f"{what:<34} {state:<9} {when(e['start']):<24} {until:<24} {e['who']:<12} {e['reason']}")
    return "\n".join(lines)


def cmd_admin_password(args: argparse.Namespace) -> int:
    """Write dashboard.admin_password_file: a new password (printed unless given) and API token."""
    import secrets

    from ..dashboard.login import admin_file_text
    from .store import write_private

    config = load_config(args.config)
    path = config.dashboard.admin_password_file
    if path is None:
        print(
            f"{args.config}: set dashboard.admin_password_file (like /etc/simplefailover/admin.password)",
            file=sys.stderr,
        )
        return 2
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else secrets.token_urlsafe(12)
    if len(password) < 8:
        print("the password must have at least 8 characters", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(24)
    write_private(path, admin_file_text(password, token).encode())
    print(f"wrote {path} (the dashboard reads it at each login: no restart needed)")
    if not args.password_stdin:
        print(f"administrator password: {password}")
    print(f"API token (Authorization: Bearer ...): {token}")
    return 0
