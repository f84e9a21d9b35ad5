"""The history as CSV or JSON, for the API and `simplefailover events`."""

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
