"""`install-service` and `uninstall-service`: both services' units, every step recorded and undone.

install-service writes the config (unless one exists), then computes from it the units of
`simplefailover run` and, when the config has a cluster: section, `clustersync run`
(units.py); it creates the folders those units may write, writes the units, and enables and
starts them where systemd runs. Each step is recorded in a manifest beside the config;
uninstall-service undoes them in reverse order and keeps what the user changed since.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import pwd
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import Config, load_config, parse_config
from ..errors import ConfigError, SimpleFailoverError
from .install import UNIT_DIR, InstallRequest, render_config, systemctl, systemd_running, write_file
from .units import Unit, clustersync_unit, failover_unit


@dataclass(frozen=True)
class Step:
    """One thing install-service did: created a folder, wrote a file, enabled (and started) a unit."""

    kind: str  # "dir" | "file" | "unit"
    path: str  # the folder or file; for "unit", the unit's name
    sha256: str = ""  # of a written file, to tell a file changed since
    started: bool = False

    def line(self) -> str:
        if self.kind == "dir":
            return f"created folder {self.path}"
        if self.kind == "file":
            return f"wrote {self.path}"
        return f"enabled{' and started' if self.started else ''} {self.path}"

    def undo_line(self) -> str:
        if self.kind == "dir":
            return f"rmdir {self.path}   (only while empty)"
        if self.kind == "file":
            return f"rm {self.path}"
        return f"systemctl disable --now {self.path}; systemctl daemon-reload"


def manifest_path(config_path: Path) -> Path:
    """Where install-service records its steps for this config."""
    return config_path.with_name(f".{config_path.name}.installed.json")


def _load_steps(config_path: Path) -> list[Step]:
    path = manifest_path(config_path)
    try:
        return [Step(**item) for item in json.loads(path.read_text())["steps"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SimpleFailoverError(f"{path}: cannot read the install record: {exc}") from exc


def _save_steps(config_path: Path, steps: list[Step]) -> None:
    write_file(manifest_path(config_path), json.dumps({"steps": [asdict(s) for s in steps]}, indent=1), 0o600)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_dir(path: Path, user: str) -> list[Step]:
    """Create path and its missing parents; one step per folder created, outermost first."""
    missing = [p for p in [path, *path.parents] if not p.exists()][::-1]
    for folder in missing:
        try:
            folder.mkdir(mode=0o750)
            if user != "root":
                shutil.chown(folder, user)
        except OSError as exc:
            raise SimpleFailoverError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    return [Step("dir", str(folder)) for folder in missing]


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise SimpleFailoverError(
            f"{path}: invalid config, no unit written:\n  " + "\n  ".join(exc.problems)
        ) from exc


def install_service(req: InstallRequest) -> list[str]:
    """Install both services for req's config; return the report: what was done and how to undo it."""
    _check(req)
    config_path = req.config_path.resolve()
    steps = _load_steps(config_path)
    new: list[Step] = []
    notes: list[str] = []
    if config_path.exists() and not req.force:
        notes.append(f"kept the existing config {config_path} (--force replaces it)")
    else:
        new += _make_dir(config_path.parent, "root")
        write_file(config_path, render_config(req), 0o644)
        new.append(Step("file", str(config_path), _sha(config_path)))
    config = _load(config_path)
    units = [failover_unit(config, config_path, req.python, req.user)]
    also = clustersync_unit(config, config_path, req.python, req.user)
    if also is not None:
        units.append(also)
    else:
        notes.append(
            "no cluster: section in the config: clustersync.service not installed (add one, run again)"
        )
    for unit in units:
        for folder in unit.writable:
            new += _make_dir(folder, req.user)
    new += _make_dir(req.unit_dir, "root")
    for unit in units:
        path = req.unit_dir / unit.name
        write_file(path, unit.text, 0o644)
        new.append(Step("file", str(path), _sha(path)))
    notes += _enable(req, units, new)
    steps = _merge(steps, new)
    _save_steps(config_path, steps)
    return [
        "Done:",
        *(f"  {step.line()}" for step in new),
        *(f"  {note}" for note in notes),
        *(f"  {unit.name} may write: {' '.join(map(str, unit.writable)) or '(nothing)'}" for unit in units),
        f"Check the nodes and the delegation: simplefailover check -c {config_path}",
        f"Undo: simplefailover uninstall-service -c {config_path}   which does, in this order:",
        *(f"  {step.undo_line()}" for step in reversed(steps)),
    ]


def _check(req: InstallRequest) -> None:
    try:
        ipaddress.ip_address(req.domain_dns_server)
    except ValueError:
        raise SimpleFailoverError(
            f"--domain-dns-server {req.domain_dns_server!r}: expected the domain DNS server's IP address"
        ) from None
    if req.cluster_address is not None and req.cluster_database is None:
        raise SimpleFailoverError(
            "--cluster-address needs --cluster-database (the application's SQLite file)"
        )
    try:
        pwd.getpwnam(req.user)
    except KeyError:
        raise SimpleFailoverError(
            f"--user {req.user}: no such user on this machine; create it first"
        ) from None
    try:  # the written config must be valid: nothing is written otherwise
        parse_config(render_config(req), filename=str(req.config_path), base_dir=req.config_path.parent)
    except ConfigError as exc:
        raise SimpleFailoverError(
            "the arguments make an invalid config:\n  " + "\n  ".join(exc.problems)
        ) from exc


def _enable(req: InstallRequest, units: list[Unit], steps: list[Step]) -> list[str]:
    """Enable (and start) the units where systemd runs and the units are in its folder."""
    if not (req.unit_dir.resolve() == UNIT_DIR and systemd_running()):
        why = "systemd is not running here" if not systemd_running() else f"{req.unit_dir} is not {UNIT_DIR}"
        runs = "; ".join(unit.text.split("ExecStart=", 1)[1].split("\n", 1)[0] for unit in units)
        return [f"did not enable or start them ({why}); run in the foreground: {runs}"]
    systemctl("daemon-reload")
    for unit in units:
        systemctl("enable", *(["--now"] if req.start else []), unit.name)
        steps.append(Step("unit", unit.name, started=req.start))
    return [] if req.start else ["start them with: systemctl start " + " ".join(u.name for u in units)]


def _merge(old: list[Step], new: list[Step]) -> list[Step]:
    """The record after a repeated install: earlier steps first, a path's newest step wins."""
    keys = {(s.kind, s.path) for s in new}
    return [s for s in old if (s.kind, s.path) not in keys] + new


def uninstall_service(config_path: Path) -> list[str]:
    """Undo every recorded step of install-service, newest first; keep what changed since."""
    config_path = config_path.resolve()
    steps = _load_steps(config_path)
    if not steps:
        raise SimpleFailoverError(
            f"nothing to undo: no install record {manifest_path(config_path)} (install-service writes it)"
        )
    manifest = manifest_path(config_path)
    done: list[str] = []
    units_removed = False
    for step in reversed(steps):
        path = Path(step.path)
        if step.kind == "unit":
            if systemd_running():
                systemctl("disable", "--now", step.path)
                done.append(f"disabled and stopped {step.path}")
        elif step.kind == "file":
            if not path.exists():
                done.append(f"{path} was already gone")
            elif _sha(path) != step.sha256:
                done.append(f"kept {path}: changed since install-service wrote it")
            else:
                path.unlink()
                units_removed |= path.suffix == ".service"
                done.append(f"removed {path}")
        elif path == manifest.parent and path.is_dir() and set(path.iterdir()) <= {manifest}:
            manifest.unlink(missing_ok=True)  # the record goes with the last folder it sits in
            path.rmdir()
            done.append(f"removed folder {path}")
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
            done.append(f"removed folder {path}")
        elif path.exists():
            done.append(f"kept folder {path}: not empty (data is never deleted)")
    manifest.unlink(missing_ok=True)
    if units_removed and systemd_running():
        systemctl("daemon-reload")
        done.append("systemctl daemon-reload")
    return ["Undone:", *(f"  {line}" for line in done)]
