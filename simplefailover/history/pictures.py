"""What the history page shows for one time window, read from the store and drawn as SVG."""

from __future__ import annotations

import bisect
import sqlite3
import time
from dataclasses import dataclass

from markupsafe import Markup

from ..config import Config
from . import store, svg
from .recorder import HistoryService
from .store import FIVE_MINUTES, HOUR, MINUTE, Event, check_track, host_track
from .timeline import Failover, add_open, availability, failovers, totals

OpenSpans = dict[str, tuple[str, float]]


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    label: str
    res: int  # which buckets it is read from
    step: int  # seconds per column
    columns: int

    def start(self, now: float) -> float:
        """The first column's start: the window ends with the column holding `now`."""
        return (int(now // self.step) + 1 - self.columns) * self.step


WINDOWS = {
    "hour": Window("hour", "last hour", MINUTE, 60, 60),
    "day": Window("day", "last 24 hours", FIVE_MINUTES, 300, 288),
    "week": Window("week", "last 7 days", HOUR, 3600, 168),
}


@dataclass(frozen=True, slots=True)
class CheckPicture:
    node: str
    polling: str
    band: Markup
    spark: Markup
    seconds: dict[str, float]  # per state over the window
    availability: float | None  # percent
    latency: str  # "avg 12.3 ms, max 40.1 ms"


@dataclass(frozen=True, slots=True)
class HostTime:
    fqdn: str
    nodes: list[tuple[str, float, float]]  # (node ids answered, seconds, percent of the known time)


@dataclass(frozen=True, slots=True)
class HistoryView:
    window: Window
    start: float
    now: float
    checks: list[CheckPicture]
    days: list[float]  # local midnights, oldest first
    daily: list[tuple[str, str, list[float | None]]]  # (node, polling, percent per day)
    hosts: list[HostTime]
    failovers: list[tuple[Failover, Markup]]
    events: list[Event]  # newest first


def build(
    history: HistoryService, config: Config, window: Window, now: float, events: int = 100
) -> HistoryView:
    """Everything the page shows, read in one go between two writes of the history."""
    return history.read(lambda db, spans: _build(db, spans, config, window, now, events))


def _build(
    db: sqlite3.Connection, spans: OpenSpans, config: Config, window: Window, now: float, limit: int
) -> HistoryView:
    start = window.start(now)
    columns = store.span_columns(db, window.res, start, window.step, window.columns)
    latency = store.latency_columns(db, window.res, start, window.step, window.columns)
    for track, (state, since) in spans.items():
        cells = columns.setdefault(track, [{} for _ in range(window.columns)])
        add_open(cells, state, since, now, start, window.step)
    checks = []
    for polling in config.pollings:
        for node in sorted(config.nodes, key=lambda n: -n.priority):
            cells = columns.get(check_track(node.id, polling.id)) or [{} for _ in range(window.columns)]
            seconds = totals(cells)
            lat = latency.get((node.id, polling.id)) or [None] * window.columns
            measured = [c for c in lat if c is not None and c[0] > 0]
            text = ""
            if measured:
                avg = sum(c[1] for c in measured) / sum(c[0] for c in measured) * 1000
                text = f"avg {avg:.1f} ms, max {max(c[3] for c in measured) * 1000:.1f} ms"
            label = f"{node.id}/{polling.id}, {window.label}"
            checks.append(
                CheckPicture(
                    node.id,
                    polling.id,
                    svg.band(cells, start, window.step, label, now),
                    svg.sparkline(lat, f"latency of {label}: {text or 'no measure'}"),
                    seconds,
                    availability(seconds),
                    text,
                )
            )
    hosts = []
    for hostname in config.hostnames:
        fqdn = config.fqdn(hostname)
        spent = totals(columns.get(host_track(fqdn), []))
        known = sum(spent.values()) or 1.0
        ordered = sorted(spent.items(), key=lambda item: -item[1])
        hosts.append(HostTime(fqdn, [(nodes, s, 100 * s / known) for nodes, s in ordered]))
    days, daily = _daily(db, spans, config, now)
    answers = store.events(db, since=start, kinds=["answer"], limit=10, newest_first=True)
    recent = store.events(db, since=start, limit=limit, newest_first=True)
    drawn = [(f, svg.failover(f)) for f in failovers(answers, config.zone.ttl)]
    return HistoryView(window, start, now, checks, days, daily, hosts, drawn, recent)


def local_midnights(now: float, count: int) -> list[float]:
    """The starts of the last `count` local days (today last), and of tomorrow."""
    today = time.localtime(now)
    out = []
    for back in range(count - 1, -2, -1):
        out.append(time.mktime((today.tm_year, today.tm_mon, today.tm_mday - back, 0, 0, 0, 0, 0, -1)))
    return out


def _daily(
    db: sqlite3.Connection, spans: OpenSpans, config: Config, now: float, count: int = 7
) -> tuple[list[float], list[tuple[str, str, list[float | None]]]]:
    """Availability per check per local day, from the hourly buckets."""
    bounds = local_midnights(now, count)
    per: dict[str, list[dict[str, float]]] = {}
    for track, state, start, seconds in store.span_rows(db, HOUR, bounds[0]):
        day = bisect.bisect_right(bounds, start) - 1
        if 0 <= day < count:
            cell = per.setdefault(track, [{} for _ in range(count)])[day]
            cell[state] = cell.get(state, 0.0) + seconds
    for track, (state, since) in spans.items():
        cells = per.setdefault(track, [{} for _ in range(count)])
        for day in range(count):
            lo, hi = max(since, bounds[day]), min(now, bounds[day + 1])
            if hi > lo:
                cells[day][state] = cells[day].get(state, 0.0) + hi - lo
    rows = []
    for polling in config.pollings:
        for node in sorted(config.nodes, key=lambda n: -n.priority):
            cells = per.get(check_track(node.id, polling.id)) or [{} for _ in range(count)]
            rows.append((node.id, polling.id, [availability(c) for c in cells]))
    return bounds[:-1], rows
