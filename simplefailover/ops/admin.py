"""The administration commands: `reload`, `install-service`, `uninstall-service` and `service`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import SimpleFailoverError
from .configfile import DEFAULT_CONFIG, load_or_report


def cmd_reload(args: argparse.Namespace) -> int:
    """Validate the config, signal the service running with it, and report what it did.

    Exit code: 0 applied; 1 the service could not apply it and keeps its running config (or
    did not answer within --wait seconds); 2 the file is invalid or no service runs.
    """
    from .pidfile import (
        find_service,
        pid_file_of,
        read_reload_status,
        reload_status_file,
        send_reload,
        wait_reload_status,
    )

    config = load_or_report(args.config)
    if config is None:
        print("not reloading: the running service keeps its config", file=sys.stderr)
        return 2
    pid, how = find_service(config, args.config)
    status_file = reload_status_file(pid_file_of(config, args.config))
    before = read_reload_status(status_file)
    send_reload(pid)
    print(f"sent SIGHUP to simplefailover pid {pid} (found by {how}); it re-reads {args.config}")
    if args.wait <= 0:
        return 0
    outcome = wait_reload_status(status_file, pid, before, args.wait)
    if outcome is None:
        print(
            f"no answer from pid {pid} within {args.wait:g} s ({status_file} unchanged): "
            "see its log (journalctl -u simplefailover) for the outcome",
            file=sys.stderr,
        )
        return 1
    if not outcome.ok:
        print(f"reload FAILED: {outcome.detail}", file=sys.stderr)
        return 1
    print(f"reloaded: {outcome.detail}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """Write config and units, enable and start both services; print what was done and the undo."""
    from .install import InstallRequest, NodeSpec
    from .installer import install_service

    try:
        nodes = [NodeSpec.parse(text, 10 - 5 * i) for i, text in enumerate(args.node or [])]
    except ValueError as exc:
        raise SimpleFailoverError(str(exc)) from exc
    request = InstallRequest(
        zone_name=args.zone_name,
        hostname=args.hostname,
        domain_dns_server=args.domain_dns_server,
        config_path=Path(args.config),
        unit_dir=Path(args.unit_dir),
        nodes=nodes,
        recipients=args.recipient or [],
        python=args.python,
        user=args.user,
        force=args.force,
        start=not args.no_start,
        cluster_address=args.cluster_address,
        cluster_database=Path(args.cluster_database) if args.cluster_database else None,
        cluster_state_dir=Path(args.cluster_state_dir),
        replicated=args.replicate or [],
    )
    print("\n".join(install_service(request)))
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    """Undo what install-service recorded for this config, newest step first."""
    from .installer import uninstall_service

    print("\n".join(uninstall_service(Path(args.config))))
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    """start|stop|restart|reload|status through systemctl; status also works without systemd."""
    from .install import installed_units, service_action, systemd_running

    if args.action == "status" and not systemd_running():
        from .pidfile import find_service

        config = load_or_report(args.config)
        if config is None:
            return 2
        try:
            pid, how = find_service(config, args.config)
        except SimpleFailoverError as exc:
            print(f"not running: {exc}")
            return 3  # LSB: program is not running
        print(f"running: pid {pid} (found by {how}), config {args.config}")
        return 0
    return service_action(args.action, [args.unit] if args.unit else installed_units())


def add_admin_commands(sub: Any) -> None:
    """Add reload, install-service and service to the `simplefailover` subcommands."""
    import sys as _sys

    from .install import CONFIG_PATH, SERVICE_ACTIONS, UNIT_DIR

    reload = sub.add_parser("reload", help="make the running service re-read its config (SIGHUP)")
    reload.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    reload.add_argument(
        "--wait", type=float, default=15, metavar="SECONDS",
        help="wait this long for the service to report the outcome (0: only send the signal)",
    )  # fmt: skip
    reload.set_defaults(func=cmd_reload)

    install = sub.add_parser(
        "install-service",
        help="write a config and both services' systemd units; enable and start them where systemd runs",
    )
    install.add_argument("--zone-name", required=True, help="the zone delegated to the cluster")
    install.add_argument("--hostname", required=True, help="the virtual hostname to fail over, as ias")
    install.add_argument(
        "--domain-dns-server", required=True, help="IP address of the domain's DNS server (delegation check)"
    )
    install.add_argument("-c", "--config", default=str(CONFIG_PATH), help="config file to write")
    install.add_argument(
        "--unit-dir",
        default=str(UNIT_DIR),
        help="where to write simplefailover.service and clustersync.service",
    )
    install.add_argument(
        "--node", action="append", metavar="ID=ADDRESS[,PRIORITY]", help="a cluster node (repeat for each)"
    )
    install.add_argument("--recipient", action="append", metavar="EMAIL", help="who gets the mails (repeat)")
    install.add_argument("--python", default=_sys.executable, help="interpreter the unit runs")
    install.add_argument("--user", default="root", help="user the service runs as (must exist)")
    install.add_argument("--force", action="store_true", help="replace an existing config")
    install.add_argument("--no-start", action="store_true", help="enable but do not start")
    install.add_argument(
        "--cluster-address",
        metavar="ADDRESS",
        help="this node's clustersync address: adds a cluster: section",
    )
    install.add_argument("--cluster-database", metavar="PATH", help="the application's SQLite database")
    install.add_argument(
        "--cluster-state-dir", default="/var/lib/clustersync", metavar="DIR", help="clustersync state"
    )
    install.add_argument("--replicate", action="append", metavar="TABLE", help="a replicated table (repeat)")
    install.set_defaults(func=cmd_install)

    uninstall = sub.add_parser("uninstall-service", help="undo every step install-service recorded")
    uninstall.add_argument(
        "-c", "--config", default=str(CONFIG_PATH), help="the config it was installed with"
    )
    uninstall.set_defaults(func=cmd_uninstall)

    service = sub.add_parser("service", help="start, stop, restart, reload or show the installed service")
    service.add_argument("action", choices=SERVICE_ACTIONS)
    service.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="for status without systemd")
    service.add_argument(
        "--unit", default=None, help="one unit (default: both installed, simplefailover and clustersync)"
    )
    service.set_defaults(func=cmd_service)
