"""The `simplefailover` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .errors import ConfigError, SimpleFailoverError
from .ops.configfile import DEFAULT_CONFIG, load_or_report


def cmd_check(args: argparse.Namespace) -> int:
    from .ops.check import as_json, exit_code, poll_once, render_table
    from .ops.delegation import check_delegation

    config = load_or_report(args.config)
    if config is None:
        return 2
    rows, board = poll_once(config)
    server = args.delegation or config.zone.domain_dns_server
    report = check_delegation(config, server) if server else None
    if args.json:
        print(as_json(config, rows, board, report.as_dict() if report else None))
    else:
        print(render_table(config, rows, board))
        if report:
            print("\n" + report.render())
    return exit_code(board)


def cmd_run(args: argparse.Namespace) -> int:
    from .daemon import Daemon

    config = load_or_report(args.config)
    if config is None:
        return 2
    Daemon(args.config, config).run_forever()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simplefailover",
        description="Keep DNS names pointed at a healthy cluster node.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="poll every node once, print the table and the answers")
    check.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument(
        "--delegation",
        metavar="SERVER",
        help="also ask this DNS server (host[:port]) whether the zone is delegated to the nodes "
        "(default: zone.domain_dns_server)",
    )
    check.set_defaults(func=cmd_check)

    run = sub.add_parser("run", help="run the service: pollers, DNS, dashboard, mail")
    run.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="a complete local demo on 127.0.0.x addresses")
    from .demo.runner import add_arguments as add_demo_arguments

    add_demo_arguments(demo)
    demo.set_defaults(func=cmd_demo)

    from .history.cli import add_events_command

    add_events_command(sub, DEFAULT_CONFIG)  # SF-6: the recorded history

    from .control.cli import add_control_commands

    add_control_commands(sub, DEFAULT_CONFIG)  # SF-11: maintenance and pins

    from .ops.admin import add_admin_commands

    add_admin_commands(sub)  # reload, install-service, service
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (
        logging.WARNING - 10 * args.verbose
        if args.command != "run"
        else logging.INFO - 10 * min(args.verbose, 1)
    )
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except (SimpleFailoverError, ConfigError) as exc:
        print(f"simplefailover: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
