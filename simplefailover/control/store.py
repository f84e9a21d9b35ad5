"""Where maintenance and pins live on disk, and the inbox through which the CLI asks the service.

The map is one JSON file in the service's state directory, written atomically (a temporary
file, fsync, rename), so a crash leaves the old map or the new one. The CLI talks to the
running service by dropping a request file in the inbox next to it and waiting for the
reply file: whoever may write the state directory may act, as with the service's files.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from habase.atomic import write_atomic

from ..config import Config
from ..errors import SimpleFailoverError
from ..history import history_path
from .overrides import Entry, read_entries

logger = logging.getLogger(__name__)


def control_path(config: Config, config_path: str | os.PathLike[str] | None) -> Path:
    """The map's file: next to the history database, named like it."""
    history = history_path(config, config_path)
    return history.with_name(history.stem.replace("history", "control", 1) + ".json")


def inbox_of(path: Path) -> Path:
    return path.with_suffix(".inbox")


def write_private(path: Path, data: bytes) -> None:
    """Replace path with data atomically (mode 0600), durable once it returns."""
    write_atomic(path, data, mode=0o600)


def save(path: Path, entries: list[Entry], announced: list[tuple[str, str]]) -> None:
    """Keep the map and the entries whose start was announced; a failure is logged, never raised."""
    body = {"v": 1, "entries": [e.as_dict() for e in entries], "announced": [list(k) for k in announced]}
    try:
        write_private(path, (json.dumps(body, indent=1) + "\n").encode())
    except OSError as exc:
        logger.error("cannot keep maintenance and pins in %s: %s", path, exc)


def load(path: Path) -> tuple[list[Entry], set[tuple[str, str]]]:
    """The saved map and announced keys; nothing when there is no file, a logged error when unreadable."""
    try:
        data = json.loads(path.read_text())
        entries = read_entries(data["entries"])
        announced = {(str(k[0]), str(k[1])) for k in data.get("announced", [])}
        return entries, announced
    except FileNotFoundError:
        return [], set()
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        logger.error("%s: cannot read maintenance and pins (%s); starting from what peers say", path, exc)
        return [], set()


class ServiceNotRunning(SimpleFailoverError):
    pass


def ask(path: Path, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Hand a request to the running service and wait for its reply."""
    inbox = inbox_of(path)
    if not inbox.is_dir():
        raise ServiceNotRunning(f"no running service keeps {path} (start it: simplefailover run -c FILE)")
    name = f"{time.time():.6f}-{secrets.token_hex(4)}"
    write_private(inbox / f"{name}.request", json.dumps(request).encode())
    reply = inbox / f"{name}.reply"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reply.exists():
            data: dict[str, Any] = json.loads(reply.read_text())
            reply.unlink(missing_ok=True)
            return data
        time.sleep(0.05)
    (inbox / f"{name}.request").unlink(missing_ok=True)
    raise ServiceNotRunning(f"the service did not answer within {timeout:.0f} s (is it running? see its log)")


def requests_waiting(path: Path) -> list[tuple[Path, dict[str, Any] | None]]:
    """Requests in the inbox, oldest first (None for one that cannot be read)."""
    out: list[tuple[Path, dict[str, Any] | None]] = []
    for file in sorted(inbox_of(path).glob("*.request")):
        try:
            data = json.loads(file.read_text())
            out.append((file, data if isinstance(data, dict) else None))
        except (OSError, ValueError):
            out.append((file, None))
    return out


def reply(request_file: Path, answer: dict[str, Any]) -> None:
    """Answer one request and take it out of the inbox."""
    write_private(request_file.with_suffix(".reply"), json.dumps(answer).encode())
    request_file.unlink(missing_ok=True)
