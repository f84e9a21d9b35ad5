"""Where the running service writes its pid and its last reload's outcome, and how `reload` finds them."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from habase.atomic import write_atomic

from ..config import Config
from ..errors import SimpleFailoverError

logger = logging.getLogger(__name__)

PROC = Path("/proc")


def default_pid_file(config_path: str | os.PathLike[str]) -> Path:
    """The pid file of the service run with this config file, when service.pid_file is not set.

    Named after the config file's absolute path, so two services with different
    configs on one machine never share a pid file.
    """
    digest = hashlib.sha256(str(Path(config_path).resolve()).encode()).hexdigest()[:12]
    if os.geteuid() == 0:
        folder = Path("/run/simplefailover")
    else:
        folder = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return folder / f"simplefailover-{digest}.pid"


def pid_file_of(config: Config, config_path: str | os.PathLike[str]) -> Path:
    """service.pid_file, or the default for this config file."""
    return config.service.pid_file or default_pid_file(config_path)


class PidFile:
    """Written when the service starts, removed when it stops (if it still holds our pid)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self) -> None:
        """Record this process's pid; a pid file left by a dead process is replaced."""
        other = _read_pid(self.path)
        if other is not None and other != os.getpid() and _is_service(other):
            logger.warning("pid file %s names pid %d, still running; taking it over", self.path, other)
        try:
            write_atomic(self.path, f"{os.getpid()}\n")
        except OSError as exc:
            # Reload by SIGHUP still works; only `simplefailover reload` needs the file.
            logger.warning(
                "cannot write pid file %s (%s); `simplefailover reload` will not find me", self.path, exc
            )

    def remove(self) -> None:
        """Delete the file if it still names this process."""
        if _read_pid(self.path) == os.getpid():
            try:
                self.path.unlink()
            except OSError as exc:
                logger.warning("cannot remove pid file %s: %s", self.path, exc)


def find_service(config: Config, config_path: str | os.PathLike[str]) -> tuple[int, str]:
    """Find the running service for this config: (pid, how it was found); raise if there is none."""
    path = pid_file_of(config, config_path)
    pid = _read_pid(path)
    if pid is not None and _is_service(pid):
        return pid, f"pid file {path}"
    pids = [p for p in _service_pids() if _runs_config(p, Path(config_path).resolve())]
    if len(pids) == 1:
        return pids[0], "process list"
    if len(pids) > 1:
        raise SimpleFailoverError(
            f"several services run with {config_path} (pids {', '.join(map(str, pids))}); "
            f"signal the right one with kill -HUP"
        )
    stale = f" (it names pid {pid}, which is not a running simplefailover)" if pid is not None else ""
    raise SimpleFailoverError(
        f"no running simplefailover service found for {config_path}: pid file {path} missing{stale}, "
        "and no `simplefailover run` process uses that config"
    )


@dataclass(frozen=True)
class ReloadStatus:
    """The outcome of the service's last reload, as it wrote it beside its pid file."""

    pid: int
    count: int  # reloads done by that process
    ok: bool
    detail: str


def reload_status_file(pid_file: Path) -> Path:
    """Where the service with this pid file writes its last reload's outcome."""
    return pid_file.with_name(pid_file.stem + ".reload.json")


def write_reload_status(path: Path, count: int, ok: bool, detail: str) -> None:
    """Record a reload's outcome (atomically); a failure to write is logged, never raised."""
    status = {"pid": os.getpid(), "count": count, "ok": ok, "detail": detail, "at": time.time()}
    try:
        write_atomic(path, json.dumps(status) + "\n")
    except OSError as exc:
        logger.warning("cannot write the reload status %s (%s)", path, exc)


def read_reload_status(path: Path) -> ReloadStatus | None:
    """The last reload's outcome, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text())
        return ReloadStatus(int(data["pid"]), int(data["count"]), bool(data["ok"]), str(data["detail"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def wait_reload_status(
    path: Path, pid: int, before: ReloadStatus | None, timeout: float
) -> ReloadStatus | None:
    """Wait for pid's next reload outcome after before; None if none came within timeout."""
    seen = before.count if before is not None and before.pid == pid else 0
    deadline = time.monotonic() + timeout
    while True:
        status = read_reload_status(path)
        if status is not None and status.pid == pid and status.count > seen:
            return status
        if time.monotonic() >= deadline or not _is_service(pid):
            return None
        time.sleep(0.1)  # another process's file: no event to wait on


def send_reload(pid: int) -> None:
    """Ask the service to re-read its config (SIGHUP)."""
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise SimpleFailoverError(f"cannot signal pid {pid}: {exc.strerror}") from exc


def process_alive(pid: object) -> bool:
    """Whether a process with this pid exists (signal 0 only asks)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_service(pid: int) -> bool:
    """Whether pid is a live `simplefailover run` (guards against a recycled pid)."""
    argv = _cmdline(pid)
    return any("simplefailover" in part for part in argv) and "run" in argv


def _service_pids() -> list[int]:
    own = os.getpid()
    return [
        int(p.name)
        for p in PROC.iterdir()
        if p.name.isdigit() and int(p.name) != own and _is_service(int(p.name))
    ]


def _runs_config(pid: int, config: Path) -> bool:
    argv = _cmdline(pid)
    values = [value for flag, value in itertools.pairwise(argv) if flag in ("-c", "--config")]
    values += [part.partition("=")[2] for part in argv if part.startswith("--config=")]
    if not values:
        return False
    try:
        cwd = (PROC / str(pid) / "cwd").resolve()
    except OSError:
        return False
    return (cwd / values[-1]).resolve() == config
