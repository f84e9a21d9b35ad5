"""`install-service`'s starting config, and `service`: systemctl for the installed units.

The units themselves are units.py; the steps and their undo are installer.py.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from habase.atomic import write_atomic

from ..errors import SimpleFailoverError
from .configfile import DEFAULT_CONFIG
from .units import CLUSTERSYNC_UNIT, ENVIRONMENT_FILE, FAILOVER_UNIT, RUNTIME_DIR

UNIT_NAME = FAILOVER_UNIT
UNIT_DIR = Path("/etc/systemd/system")
CONFIG_PATH = Path(DEFAULT_CONFIG)
PID_FILE = RUNTIME_DIR / "simplefailover.pid"  # the unit's RuntimeDirectory=


def systemd_running() -> bool:
    """Whether systemd is this machine's init (the check sd_booted() does)."""
    return Path("/run/systemd/system").is_dir()


@dataclass(frozen=True)
class NodeSpec:
    """A node given on the command line as ID=ADDRESS[,PRIORITY]."""

    id: str
    address: str
    priority: int

    @classmethod
    def parse(cls, text: str, default_priority: int) -> NodeSpec:
        """Read ID=ADDRESS[,PRIORITY]; raise ValueError saying what is wrong."""
        ident, sep, rest = text.partition("=")
        address, _, priority = rest.partition(",")
        if not sep or not ident or not address:
            raise ValueError(f"--node {text!r}: expected ID=ADDRESS[,PRIORITY], as node1=192.0.2.11,10")
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"--node {text!r}: {address!r} is not an IPv4 or IPv6 address") from None
        if priority and not priority.lstrip("-").isdigit():
            raise ValueError(f"--node {text!r}: priority {priority!r} is not a whole number")
        return cls(ident, address, int(priority) if priority else default_priority)


@dataclass
class InstallRequest:
    """What install-service was asked to do."""

    zone_name: str
    hostname: str
    domain_dns_server: str
    config_path: Path = CONFIG_PATH
    unit_dir: Path = UNIT_DIR
    nodes: list[NodeSpec] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    python: str = sys.executable
    user: str = "root"
    force: bool = False
    start: bool = True
    cluster_address: str | None = None  # with it, a cluster: section (and so clustersync.service)
    cluster_database: Path | None = None
    cluster_state_dir: Path = Path("/var/lib/clustersync")
    replicated: list[str] = field(default_factory=list)


def render_config(req: InstallRequest) -> str:
    """A complete starting config from the arguments; every other value is a documented default."""
    nodes = req.nodes or [NodeSpec(socket.gethostname().split(".")[0] or "node1", "127.0.0.1", 10)]
    zone = req.zone_name.strip().rstrip(".").lower()
    lines = [
        f"# Written by `simplefailover install-service` on {datetime.date.today()}.",
        "# Edit it, then apply it without a restart: simplefailover reload -c THIS_FILE",
        "# Every key: docs/configuration.md. Service operations: docs/operations.md.",
        "# The domain DNS server must delegate the zone to every node below; `simplefailover",
        "# check` asks it (zone.domain_dns_server). In the parent zone (BIND syntax):",
        f"#   {zone}.  IN NS  ns1.{zone}.     plus glue: ns1.{zone}.  IN A  <node address>",
        "",
        "zone:",
        f"  name: {zone}",
        "  ttl: 30",
        f"  domain_dns_server: {_yaml_server(req.domain_dns_server)}   # parent zone; delegation check",
        "  nameservers:",
        *(f"    - {{name: ns{i}.{zone}, address: {_yaml_ip(n.address)}}}" for i, n in enumerate(nodes, 1)),
        "",
        "nodes:                  # higher priority wins",
        *(f"  - {{id: {n.id}, address: {_yaml_ip(n.address)}, priority: {n.priority}}}" for n in nodes),
        "",
        "pollings:",
        '  - {id: poll1, method: http, url: "http://{address}:80/", timeout: 5}',
        "",
        "hostnames:",
        f"  - {{name: {req.hostname}, polling: poll1, when_all_down: all}}",
        "",
        "schedule: {interval: 30, retry_interval: 5, fall: 2, rise: 2}",
        "",
        "dns:",
        '  listen: ["0.0.0.0:53", "[::]:53"]',
        "",
        "dashboard:",
        '  listen: "127.0.0.1:81"',
        "",
        "monitoring:",
        "  notifications: true",
        f"  recipients: {json.dumps(req.recipients)}",
        "  # with login: username: alerts, password_env: SMTP_PASSWORD (set it in",
        f"  # {ENVIRONMENT_FILE}, mode 600, as SMTP_PASSWORD=...)",
        f"  smtp: {{host: 127.0.0.1, port: 25, security: starttls, sender: simplefailover@{zone}}}",
        "",
        "service:",
        f"  pid_file: {PID_FILE}",
        *_cluster_lines(req),
    ]
    return "\n".join(lines) + "\n"


def _cluster_lines(req: InstallRequest) -> list[str]:
    if req.cluster_address is None:
        return [
            "",
            "# No cluster: section yet: add one (docs/configuration.md) and run install-service",
            "# again to install clustersync.service as well.",
        ]
    database = req.cluster_database or Path("/var/lib/APP/app.db")  # install-service requires it
    return [
        "",
        "cluster:                # clustersync: `clustersync create` on the first node, `join` on the others",
        f"  address: {_yaml_ip(req.cluster_address)}",
        "  port: 52700           # control; data sync on port + 1",
        f"  database: {database}",
        f"  tables: {{replicated: {json.dumps(req.replicated)}}}",
        f"  state_dir: {req.cluster_state_dir}   # status, events; the secret: cluster.secret in it",
        "  # copy the first node's cluster.secret here before `clustersync join`",
    ]


def _yaml_server(address: str) -> str:
    return f'"[{address}]"' if ":" in address else address


def _yaml_ip(address: str) -> str:
    return f'"{address}"' if ":" in address else address


def write_file(path: Path, text: str, mode: int) -> None:
    try:
        write_atomic(path, text, mode=mode)
    except OSError as exc:
        raise SimpleFailoverError(f"cannot write {path}: {exc.strerror or exc}") from exc


def systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise SimpleFailoverError("systemd runs but systemctl is not on PATH")
    result = subprocess.run([systemctl, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SimpleFailoverError(
            f"systemctl {' '.join(args)} failed: {result.stderr.strip() or result.returncode}"
        )
    return result


SERVICE_ACTIONS = ("start", "stop", "restart", "reload", "status")


def installed_units(unit_dir: Path = UNIT_DIR) -> list[str]:
    """simplefailover.service, and clustersync.service where install-service wrote it too."""
    return [UNIT_NAME] + ([CLUSTERSYNC_UNIT] if (unit_dir / CLUSTERSYNC_UNIT).exists() else [])


def service_action(action: str, units: Sequence[str] = (UNIT_NAME,), argv: Sequence[str] = ()) -> int:
    """Run `systemctl ACTION UNIT...`, passing its output and exit code through."""
    if not systemd_running():
        raise SimpleFailoverError(
            f"systemd is not running on this machine, so there is no {' or '.join(units)} to {action}; "
            "run the services with `simplefailover run -c FILE` and `clustersync run -c FILE`"
        )
    systemctl = shutil.which("systemctl") or "systemctl"
    extra = ["--no-pager"] if action == "status" else []
    return subprocess.run([systemctl, action, *extra, *units, *argv], check=False).returncode
