"""The two systemd units, each allowed to write exactly the paths its config names.

`simplefailover run` writes its pid file and reload status beside it, its history
(history.state_dir, else systemd's StateDirectory=simplefailover), and -- through the
dashboard's High Availability page, which creates and joins clusters -- clustersync's state
directory, database and secret. `clustersync run` writes its state directory (status,
events, join snapshots) and its database's folder (SQLite's journal and WAL files live
beside the database). Neither writes a log file: both log to stderr, which systemd keeps in
the journal. Everything else of the file system is read-only to them (ProtectSystem=strict).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from clustersync import api

from ..config import Config
from .pidfile import pid_file_of

RUNTIME_DIR = Path("/run/simplefailover")  # RuntimeDirectory= of simplefailover.service
STATE_DIR = Path("/var/lib/simplefailover")  # its StateDirectory=, when the history has no state_dir
FAILOVER_UNIT = "simplefailover.service"
CLUSTERSYNC_UNIT = "clustersync.service"
ENVIRONMENT_FILE = Path("/etc/simplefailover/environment")


@dataclass(frozen=True)
class Unit:
    """One unit file: its name, what it may write, and its text."""

    name: str
    writable: tuple[Path, ...]  # ReadWritePaths=, in order
    text: str


def failover_writes(config: Config, config_path: Path) -> list[Path]:
    """The folders `simplefailover run` writes with this config."""
    paths = [pid_file_of(config, config_path).parent]  # pid file and reload status
    if config.history.enabled:  # history.db; without history.state_dir, in StateDirectory= (systemd)
        paths.append(config.history.state_dir or STATE_DIR)
    if config.cluster is not None:  # the HA page creates and joins: clustersync's files
        paths += api.written_folders(config)
        paths.append(config.cluster.secret_path().parent)
    return paths


def failover_reads(config: Config) -> list[Path]:
    """Files `simplefailover run` reads besides its config: secrets and CA bundles."""
    smtp = config.monitoring.smtp
    update = config.dns.update
    found = [smtp.password_file, smtp.ca_file, update.secret_file if update else None]
    found += [getattr(polling, "ca_file", None) for polling in config.pollings]
    if config.peers is not None:
        found.append(config.peers.secret_file)
    if config.cluster is not None:
        found.append(config.cluster.secret_path())
    return [path for path in found if path is not None]


def clustersync_writes(config: Config) -> list[Path]:
    """The folders `clustersync run` writes with this config (it only reads the secret)."""
    return api.written_folders(config)


def minimal(paths: Iterable[Path], covered: Iterable[Path] = ()) -> tuple[Path, ...]:
    """Absolute paths without duplicates, without those inside another one or inside covered."""
    resolved = sorted({Path(p).resolve() for p in paths})
    outer = [Path(c).resolve() for c in covered]
    kept: list[Path] = []
    for path in resolved:
        if not any(path.is_relative_to(other) for other in [*kept, *outer]):
            kept.append(path)
    return tuple(kept)


def _low_ports(config: Config, clustersync: bool) -> bool:
    if clustersync:
        cluster = config.cluster
        return cluster is not None and min(cluster.port, cluster.sync_port()) < 1024
    ports = [port for _, port in config.dns.addresses()]
    if config.dashboard.enabled:
        ports.append(config.dashboard.address()[1])
    if config.peers is not None:
        ports.append(int(config.peers.listen.rsplit(":", 1)[1]))
    return any(port < 1024 for port in ports)


HARDENING = """\
UMask=0027
NoNewPrivileges=yes
ProtectSystem=strict
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
LockPersonality=yes"""


HOMES = (Path("/home"), Path("/root"), Path("/run/user"))  # what ProtectHome= hides


def protect_home(python: str, used: Iterable[Path]) -> str:
    """ProtectHome=yes, or read-only when the interpreter, the config or data live in a home folder.

    A venv in /root (or a pyenv Python behind it) is common; hidden homes would keep the
    service from even starting, so those are made read-only and ReadWritePaths reopens the
    folders it writes.
    """
    paths = [Path(python), Path(python).resolve(), *(Path(p).resolve() for p in used)]
    return "read-only" if any(p.is_relative_to(home) for p in paths for home in HOMES) else "yes"


def _render(
    *, description: str, exec_start: str, user: str, writable: tuple[Path, ...], low_ports: bool,
    runtime_dir: str | None, home: str, state_dir: str | None = None, after: str = "",
) -> str:  # fmt: skip
    capabilities = (
        "# Ports below 1024 without being root, and nothing else.\n"
        "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE"
        if low_ports
        else "# No port below 1024: no capability at all.\nCapabilityBoundingSet="
    )
    lines = [
        "# Written by `simplefailover install-service`; `simplefailover uninstall-service` removes it.",
        "[Unit]",
        f"Description={description}",
        f"After=network-online.target{after}",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=notify",  # READY once it serves (sdnotify.py): start fails with the reason, reloads wait
        "NotifyAccess=main",
        f"User={user}",
        f"ExecStart={exec_start}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=5",
        f"EnvironmentFile=-{ENVIRONMENT_FILE}",
        *([f"RuntimeDirectory={runtime_dir}", "RuntimeDirectoryPreserve=restart"] if runtime_dir else []),
        *([f"StateDirectory={state_dir}"] if state_dir else []),
        capabilities,
        HARDENING,
        f"ProtectHome={home}",
        "# Computed from the config: the only paths this service writes.",
        *([f"ReadWritePaths={' '.join(str(p) for p in writable)}"] if writable else []),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def failover_unit(config: Config, config_path: Path, python: str, user: str) -> Unit:
    """simplefailover.service: `simplefailover run` with this config."""
    config_path = config_path.resolve()
    writable = minimal(failover_writes(config, config_path), covered=[RUNTIME_DIR, STATE_DIR])
    # StateDirectory= makes /var/lib/simplefailover and tells the service ($STATE_DIRECTORY)
    state_dir = (
        STATE_DIR.name
        if STATE_DIR.resolve() in map(Path.resolve, failover_writes(config, config_path))
        else None
    )
    text = _render(
        description=f"SimpleFailover DNS failover for {config.zone.name}",
        exec_start=f"{python} -m simplefailover run -c {config_path}",
        user=user, writable=writable, low_ports=_low_ports(config, False), runtime_dir=RUNTIME_DIR.name,
        home=protect_home(python, [config_path, *writable, *failover_reads(config)]), state_dir=state_dir,
    )  # fmt: skip
    return Unit(FAILOVER_UNIT, writable, text)


def clustersync_unit(config: Config, config_path: Path, python: str, user: str) -> Unit | None:
    """clustersync.service: `clustersync run` with this config; None without a cluster: section."""
    if config.cluster is None:
        return None
    config_path = config_path.resolve()
    writable = minimal(clustersync_writes(config))
    smtp = config.monitoring.smtp
    reads = [config.cluster.secret_path(), smtp.password_file, smtp.ca_file]
    text = _render(
        description=f"clustersync: replicate the cluster's data ({config.cluster.node_id})",
        exec_start=f"{python} -m clustersync run -c {config_path}",
        user=user, writable=writable, low_ports=_low_ports(config, True), runtime_dir=None,
        home=protect_home(python, [config_path, *writable, *(p for p in reads if p is not None)]),
    )  # fmt: skip
    return Unit(CLUSTERSYNC_UNIT, writable, text)
