"""What the dashboard shows, computed from an engine snapshot: pure, no Flask, no I/O.

The page and `/api/status` are both built from one `StatusView`, so they always show
the same data. Rows are precomputed here so the template only loops and prints.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..checkrow import CheckRow, bound_hostnames, check_row, serving_hostnames
from ..config import Config
from ..engine import Snapshot
from ..peers.report import agreement_json
from ..state import CheckKey, CheckState, Status, Transition

PAGE_EVENTS = 50


@dataclass(frozen=True, slots=True)
class HostnameRow:
    """One virtual hostname and what DNS answers for it now."""

    name: str
    fqdn: str
    polling: str
    when_all_down: str
    node_ids: tuple[str, ...]
    addresses: tuple[str, ...]
    all_down: bool
    reason: str
    ttl: int
    basis: str = ""  # with peers: what the answer rests on (agreed, witness, kept, alone, heard)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event, ready to show."""

    at: float
    kind: str
    subject: str
    old: str
    new: str
    reason: str
    tone: str  # bad | good | info: how the page colours it
    transition: Transition


@dataclass(frozen=True, slots=True)
class StatusView:
    """Everything the dashboard shows at one instant."""

    zone: str
    serial: int
    ready: bool
    now: float
    refresh: int
    ttl: int
    ko_ttl: int | None
    fall: int
    rise: int
    hostnames: tuple[HostnameRow, ...]
    checks: tuple[CheckRow, ...]
    events: tuple[EventRow, ...]  # newest first
    peers: dict[str, Any] | None = None  # agreement with the other instances (SF-5); None when alone
    control: tuple[dict[str, Any], ...] = ()  # maintenance windows and pins (SF-11)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> its data (max_data_lag)

    @property
    def all_down(self) -> tuple[HostnameRow, ...]:
        """Hostnames that have no OK node."""
        return tuple(h for h in self.hostnames if h.all_down)

    @property
    def counts(self) -> dict[str, int]:
        """How many checks are OK, KO and UNKNOWN."""
        out = {"OK": 0, "KO": 0, "UNKNOWN": 0}
        for row in self.checks:
            out[row.status] += 1
        return out


def ttl_in_force(config: Config, checks: Mapping[CheckKey, CheckState], polling_id: str) -> int:
    """The TTL served for a hostname: zone.ko_ttl while one of its nodes is KO, else zone.ttl."""
    zone = config.zone
    if zone.ko_ttl is None:
        return zone.ttl
    for (_, pid), state in checks.items():
        if pid == polling_id and state.status is Status.KO:
            return zone.ko_ttl
    return zone.ttl


def build_view(snapshot: Snapshot, now: float | None = None, events: int | None = PAGE_EVENTS) -> StatusView:
    """Turn an engine snapshot into rows for the page and the API."""
    config = snapshot.config
    table = snapshot.table
    now = time.time() if now is None else now
    hostnames: list[HostnameRow] = []
    for hostname in config.hostnames:
        fqdn = config.fqdn(hostname)
        answer = table.answers.get(fqdn)
        hostnames.append(
            HostnameRow(
                name=hostname.name,
                fqdn=fqdn,
                polling=hostname.polling,
                when_all_down=hostname.when_all_down,
                node_ids=answer.node_ids if answer else (),
                addresses=answer.addresses if answer else (),
                all_down=answer.all_down if answer else False,
                reason=answer.reason if answer else "no answer yet",
                ttl=ttl_in_force(config, snapshot.checks, hostname.polling),
                basis=answer.basis if answer else "",
            )
        )
    # Grouped by polling, then priority (higher first, ties in config order), as
    # the answer choice reads them.
    nodes = sorted(config.nodes, key=lambda n: -n.priority)
    bound = bound_hostnames(config)
    serving = serving_hostnames(config, table.answers)
    checks: list[CheckRow] = []
    for polling in config.pollings:
        for node in nodes:
            state = snapshot.checks.get((node.id, polling.id)) or CheckState()
            checks.append(
                check_row(
                    node,
                    polling,
                    state,
                    now,
                    config.monitoring.cert_warning_days,
                    hostnames=bound.get(polling.id, ()),
                    serving=serving.get((node.id, polling.id), ()),
                    maintenance=node.id in snapshot.maintenance,
                )
            )
    recent = snapshot.events if events is None else snapshot.events[-events:] if events > 0 else []
    return StatusView(
        zone=config.zone.name,
        serial=table.serial,
        ready=table.ready,
        now=now,
        refresh=config.dashboard.refresh,
        ttl=config.zone.ttl,
        ko_ttl=config.zone.ko_ttl,
        fall=config.schedule.fall,
        rise=config.schedule.rise,
        hostnames=tuple(hostnames),
        checks=tuple(checks),
        events=tuple(_event_row(t) for t in reversed(recent)),
        peers=agreement_json(snapshot.agreement, snapshot.checks, table),
        control=snapshot.control,
        data={k: {"ready": f.ready, "age": f.age, "reason": f.reason} for k, f in snapshot.data.items()},
    )


def _event_row(t: Transition) -> EventRow:
    if t.hostname:
        subject = t.hostname
    elif t.node_id or t.polling_id:
        subject = "/".join(part for part in (t.node_id, t.polling_id) if part)
    else:
        subject = ""
    if t.new == "KO" or t.kind in ("all_down", "cert_expiry") or "fail" in f"{t.kind} {t.new}".lower():
        tone = "bad"
    elif t.new == "OK" or t.kind == "recovered":
        tone = "good"
    else:
        tone = "info"
    return EventRow(t.at, t.kind, subject, t.old, t.new, t.reason, tone, t)


def iso_time(at: float | None) -> str | None:
    """UTC ISO 8601 time with milliseconds, as the API gives times."""
    if at is None:
        return None
    whole = time.gmtime(at)
    return time.strftime("%Y-%m-%dT%H:%M:%S", whole) + f".{int(at * 1000) % 1000:03d}Z"


def as_json(view: StatusView) -> dict[str, Any]:
    """The view as the `/api/status` document (schema in docs/api.md)."""
    return {
        "zone": view.zone,
        "serial": view.serial,
        "ready": view.ready,
        "generated_at": iso_time(view.now),
        "ttl": view.ttl,
        "ko_ttl": view.ko_ttl,
        "hostnames": [
            {
                "name": h.name,
                "fqdn": h.fqdn,
                "polling": h.polling,
                "when_all_down": h.when_all_down,
                "addresses": list(h.addresses),
                "nodes": list(h.node_ids),
                "all_down": h.all_down,
                "reason": h.reason,
                "basis": h.basis or None,
                "ttl": h.ttl,
            }
            for h in view.hostnames
        ],
        "nodes": _nodes(view),
        "checks": [
            {
                "node": c.node_id,
                "address": c.address,
                "priority": c.priority,
                "polling": c.polling_id,
                "method": c.method,
                "hostnames": list(c.hostnames),
                "serving": list(c.serving),
                "status": c.status,
                "since": iso_time(c.since),
                "last_check": iso_time(c.last_check),
                "latency_ms": c.latency_ms,
                "error": c.error,
                "consecutive_successes": c.successes,
                "consecutive_failures": c.failures,
                "cert_expires_at": iso_time(c.cert_expires),
                "cert_days_left": c.cert_days_left,
                "maintenance": c.maintenance,
            }
            for c in view.checks
        ],
        "events": [
            {
                "at": iso_time(e.at),
                "kind": e.kind,
                "old": e.old,
                "new": e.new,
                "reason": e.reason,
                "node": e.transition.node_id or None,
                "polling": e.transition.polling_id or None,
                "hostname": e.transition.hostname or None,
            }
            for e in view.events
        ],
        "maintenance": [_control_json(e) for e in view.control if e["kind"] == "maintenance"],
        "pins": [_control_json(e) for e in view.control if e["kind"] == "pin"],
        # Only with hostnames[].max_data_lag: each node's clustersync data as last read.
        **({"data": view.data} if view.data else {}),
        # Only with peers configured, so a single instance's document is as before.
        **({"peers": view.peers} if view.peers is not None else {}),
    }


def _nodes(view: StatusView) -> list[dict[str, Any]]:
    """One entry per node, in priority order, with its status per polling."""
    out: dict[str, dict[str, Any]] = {}
    for c in view.checks:
        entry = out.setdefault(
            c.node_id,
            {"id": c.node_id, "address": c.address, "priority": c.priority, "maintenance": c.maintenance},
        )
        entry.setdefault("status", {})[c.polling_id] = c.status
    return sorted(out.values(), key=lambda n: -n["priority"])


def _control_json(entry: dict[str, Any]) -> dict[str, Any]:
    """A maintenance window or pin as /api/status shows it."""
    return {
        "target": entry["target"],
        "node": entry["node"] or entry["target"],
        "from": iso_time(entry["start"]),
        "until": iso_time(entry["end"]),
        "in_force": bool(entry.get("in_force")),
        "who": entry["who"],
        "reason": entry["reason"],
        "forced": entry["force"],
    }
