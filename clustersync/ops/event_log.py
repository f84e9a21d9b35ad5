"""The node's recent cluster events (SPEC CL-8), kept in state_dir/events.jsonl.

`clustersync run` mails each event and appends it here; the dashboard's High Availability
page, another process, reads the newest ones. Events are transitions, so the file grows
slowly; it is cut back to the last KEEP events now and then.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from habase.atomic import write_atomic

from ..core.events import Event

logger = logging.getLogger(__name__)

EVENTS_FILE = "events.jsonl"
KEEP = 200


def record(state_dir: Path, event: Event, at: float) -> None:
    """Append one event; never raises (a full disk must not stop replication)."""
    headline = event.body.split("\n", 1)[0]
    line = json.dumps({"at": at, "kind": event.kind, "subject": event.subject, "detail": headline})
    path = state_dir / EVENTS_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 2 * KEEP:
            write_atomic(path, "\n".join(lines[-KEEP:]) + "\n")
    except OSError as exc:
        logger.warning("cannot keep the event in %s: %s", path, exc)


def recent(state_dir: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The newest events first, at most limit; unreadable lines are skipped."""
    try:
        lines = (state_dir / EVENTS_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found: list[dict[str, Any]] = []
    for line in reversed(lines):
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(item, dict)
            and isinstance(item.get("at"), int | float)
            and isinstance(item.get("kind"), str)
        ):
            found.append(item)
            if len(found) >= limit:
                break
    return found
