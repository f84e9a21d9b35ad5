"""`install-service` and `service`: a systemd unit and a starting config, no network needed."""

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

from .config import parse_config
from .errors import ConfigError, SimpleFailoverError

UNIT_NAME = "simplefailover.service"
UNIT_DIR = Path("/etc/systemd/system")
CONFIG_PATH = Path("/etc/simplefailover/config.yaml")
STATE_DIR = Path("/var/lib/simplefailover")
ENVIRONMENT_FILE = Path("/etc/simplefailover/environment")
PID_FILE = Path(
    "/run/simplefailover/simplefailover.pid"
)  # RuntimeDirectory= below creates /run/simplefailover


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
    ]
    return "\n".join(lines) + "\n"


def _yaml_server(address: str) -> str:
    return f'"[{address}]"' if ":" in address else address


def _yaml_ip(address: str) -> str:
    return f'"{address}"' if ":" in address else address


def render_unit(req: InstallRequest) -> str:
    """The systemd unit: the service with only the rights it needs."""
    config = req.config_path.resolve()
    return f"""\
# Written by `simplefailover install-service`. Undo: see docs/operations.md.
[Unit]
Description=SimpleFailover DNS failover for {req.zone_name}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={req.user}
ExecStart={req.python} -m simplefailover run -c {config}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5
EnvironmentFile=-{ENVIRONMENT_FILE}
RuntimeDirectory=simplefailover
StateDirectory=simplefailover
# Port 53 and 81 without being root, and nothing else.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={STATE_DIR}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
"""


def install_service(req: InstallRequest) -> list[str]:
    """Write the config (unless one exists) and the unit; enable and start where systemd runs.

    Returns the report lines: what was done, and how to undo it.
    """
    try:
        ipaddress.ip_address(req.domain_dns_server)
    except ValueError:
        raise SimpleFailoverError(
            f"--domain-dns-server {req.domain_dns_server!r}: expected the domain DNS server's IP address"
        ) from None
    done: list[str] = []
    undo: list[str] = []
    config_text = render_config(req)
    try:
        parse_config(config_text, filename=str(req.config_path), base_dir=req.config_path.parent)
    except ConfigError as exc:
        raise SimpleFailoverError(
            "the arguments make an invalid config:\n  " + "\n  ".join(exc.problems)
        ) from exc
    if req.config_path.exists() and not req.force:
        done.append(f"kept the existing config {req.config_path} (--force replaces it)")
    else:
        _write(req.config_path, config_text, 0o644)
        done.append(f"wrote config {req.config_path}")
        undo.append(f"rm {req.config_path}")
    unit_path = req.unit_dir / UNIT_NAME
    _write(unit_path, render_unit(req), 0o644)
    done.append(f"wrote systemd unit {unit_path}")
    if req.unit_dir.resolve() == UNIT_DIR and systemd_running():
        undo.insert(0, f"systemctl disable --now {UNIT_NAME}; rm {unit_path}; systemctl daemon-reload")
        _systemctl("daemon-reload")
        if req.start:
            _systemctl("enable", "--now", UNIT_NAME)
            done.append(f"enabled and started {UNIT_NAME} (systemctl enable --now)")
        else:
            _systemctl("enable", UNIT_NAME)
            done.append(f"enabled {UNIT_NAME}; start it with: simplefailover service start")
    else:
        undo.insert(0, f"rm {unit_path}")
        why = "systemd is not running here" if not systemd_running() else f"{req.unit_dir} is not {UNIT_DIR}"
        done.append(
            f"did not enable or start it ({why}); run in the foreground with: "
            f"{req.python} -m simplefailover run -c {req.config_path}"
        )
    return [
        "Done:",
        *(f"  {line}" for line in done),
        f"Check the nodes and the delegation: simplefailover check -c {req.config_path}",
        "Undo:",
        *(f"  {line}" for line in undo),
    ]


def _write(path: Path, text: str, mode: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(mode)
        temporary.replace(path)
    except OSError as exc:
        raise SimpleFailoverError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
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


def service_action(action: str, unit: str = UNIT_NAME, argv: Sequence[str] = ()) -> int:
    """Run `systemctl ACTION unit`, passing its output and exit code through."""
    if not systemd_running():
        raise SimpleFailoverError(
            f"systemd is not running on this machine, so there is no {unit} to {action}; "
            "run the service with `simplefailover run -c FILE` (and `simplefailover reload -c FILE`)"
        )
    systemctl = shutil.which("systemctl") or "systemctl"
    extra = ["--no-pager"] if action == "status" else []
    return subprocess.run([systemctl, action, *extra, unit, *argv], check=False).returncode
