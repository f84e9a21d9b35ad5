"""The history as people and scripts read and write it: CSV, JSON, text lines, and times."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable

from .store import Event

COLUMNS = ("id", "time", "at", "kind", "node", "polling", "hostname", "old", "new", "reason", "who", "from")


def as_csv(events: Iterable[Event]) -> str:
    """One line per event, with a header; `data` as JSON in the last column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, "data"])
    for event in events:
        row = event.as_dict()
        writer.writerow([*(row[c] for c in COLUMNS), json.dumps(row["data"]) if row["data"] else ""])
    return out.getvalue()


def as_json(events: Iterable[Event]) -> str:
    return json.dumps([e.as_dict() for e in events], indent=1)


def as_text(events: Iterable[Event]) -> str:
    """Aligned lines for people: local time, kind, subject, change, details."""
    lines = []
    for e in events:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
        subject = e.hostname or "/".join(part for part in (e.node, e.polling) if part)
        change = f"{e.old} -> {e.new}" if e.old else e.new
        author = f" [by {e.who}{' from ' + e.origin if e.origin else ''}]" if e.who or e.origin else ""
        action = f"{e.data['action']}: " if e.kind == "audit" and "action" in e.data else ""
        lines.append(f"{stamp}  {e.kind:<9} {subject:<28} {change:<24} {action}{e.reason}{author}")
    return "\n".join(lines)


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: float) -> float:
    """A point in time: "2h" / "30m" / "7d" ago, epoch seconds, or ISO 8601 (local time if no zone)."""
    from datetime import datetime

    value = text.strip()
    for unit in sorted(_UNITS, key=len, reverse=True):
        number = value.removesuffix(unit)
        if number != value and number.replace(".", "", 1).isdigit():
            return now - float(number) * _UNITS[unit]
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (say 2h, 30m or 7d ago, epoch seconds, or 2026-12-03T22:00)"
        ) from None
    return moment.timestamp()  # naive: local time
