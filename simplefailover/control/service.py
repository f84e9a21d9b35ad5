"""The control service: applies maintenance and pins, answers the CLI, shares the map with peers."""

from __future__ import annotations

import getpass
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from habase.notify import Notifier
from habase.service import start_thread

from ..config import Config
from ..engine import Engine, Listener
from ..history import HistoryService
from ..notify.messages import origin_of
from ..peers.settings import self_id
from ..state import Transition
from . import store
from .overrides import FOREVER, MAINTENANCE, PIN, Entry, Overrides, preflight, read_entries, when

logger = logging.getLogger(__name__)

TICK = 0.25  # seconds between looks at the inbox and the clock


class ControlService:
    """Owns the maintenance/pin map of this instance (SPEC SF-11).

    Every change (from the CLI, a peer or the clock) is saved, then applied to the
    engine; the start and end of each entry is audited in the history and mailed once,
    by the instance that sends the cluster's mails.
    """

    name = "control"

    def __init__(
        self,
        config: Config,
        engine: Engine,
        path: Path,
        notifier: Notifier | None = None,
        history: HistoryService | None = None,
        is_sender: Callable[[], bool] = lambda: True,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._config = config
        self._engine = engine
        self.path = path
        self._notifier = notifier
        self._history = history
        self._is_sender = is_sender
        self._lock = threading.Lock()  # the map
        self._applying = threading.Lock()  # one apply at a time: a stale one never lands last
        entries, announced = store.load(path)
        self._map = Overrides(entries)
        self._announced = announced  # keys whose start was told (mailed/audited)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_change: Callable[[], None] = lambda: None  # the peers send the map at once
        self._maint_gauge = Gauge(
            "simplefailover_node_maintenance",
            "1 while the node is in maintenance (SF-11)",
            ["node"],
            registry=registry,
        )
        self._pin_gauge = Gauge(
            "simplefailover_hostname_pinned",
            "1 while the hostname is pinned to the node (SF-11)",
            ["hostname", "node"],
            registry=registry,
        )

    # ------------------------------------------------------------------ service

    def start(self) -> None:
        store.inbox_of(self.path).mkdir(parents=True, exist_ok=True, mode=0o700)
        self._stopping.clear()
        self._apply(force=True)
        self._thread = start_thread("control", self._run)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def reconfigure(self, config: Config) -> None:
        self._config = config
        self._apply(force=True)

    def _run(self) -> None:
        while not self._stopping.wait(TICK):
            try:
                for file, request in store.requests_waiting(self.path):
                    store.reply(file, self.handle(request) if request else _refused("unreadable request"))
                self._apply()
            except Exception:
                logger.exception("control cycle failed; it goes on")

    # ------------------------------------------------------------------ peers

    def entries_for_peers(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._map.as_list()

    def receive(self, member: str, data: Any) -> None:
        """A peer's map (already authenticated): fold it in."""
        try:
            entries = read_entries(data)
        except ValueError as exc:
            logger.warning("maintenance/pins from %s refused: %s", member, exc)
            return
        with self._lock:
            changed = self._map.merge(entries)
        if changed:
            logger.info(
                "from %s: %s", member, "; ".join(e.describe() if e.on else f"{e.target} off" for e in changed)
            )
            self._apply(save=True)

    # ------------------------------------------------------------------ requests

    def entries(self) -> list[Entry]:
        """Entries in force or to come, for display."""
        now = time.time()
        with self._lock:
            return [e for _, e in sorted(self._map.entries.items()) if e.on and e.end > now]

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One action (from the CLI or the API): validated, applied, answered with what happened."""
        try:
            return self._handle(request)
        except (TypeError, ValueError, OverflowError) as exc:  # a start or end that is no time
            return _refused(f"bad request: {exc}")

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        action = request.get("action")
        now = time.time()
        config = self._config
        who = str(request.get("who") or getpass.getuser())[:100]
        reason = str(request.get("reason") or "")[:300]
        if action == "list":
            return {"ok": True, "entries": [e.as_dict() for e in self.entries()], "now": now}
        target = str(request.get("target") or "")
        start = float(request.get("start") or now)
        end = float(request["end"]) if request.get("end") is not None else FOREVER
        if end <= max(start, now):
            return _refused(f"the window would end ({when(end)}) before it starts")
        me = self_id(config) if config.peers else "local"
        node_ids = [n.id for n in config.nodes]
        if action in ("maintenance_on", "maintenance_off"):
            if target not in node_ids:
                return _refused(f"no node {target!r} (nodes: {', '.join(node_ids)})")
            if action == "maintenance_off":
                entry = Entry(MAINTENANCE, target, False, who=who, reason=reason, stamp=now, origin=me)
                return self._commit(entry, f"{target}: maintenance off")
            force = bool(request.get("force"))
            with self._lock:
                planned = self._map.maintenance(start) | {target}
                pins = self._map.pins(start)
            empty = preflight(config, self._engine.statuses(), planned, pins)
            if empty and not force:
                return _refused(
                    f"{target} in maintenance would leave {', '.join(empty)} with no OK node"
                    " (--force to do it anyway)"
                )
            entry = Entry(MAINTENANCE, target, True, start, end, "", reason, who, bool(empty), now, me)
            note = f"; forced: {', '.join(empty)} left with no OK node" if empty else ""
            return self._commit(entry, entry.describe() + note)
        if action in ("pin", "unpin"):
            fqdns = {config.fqdn(h) for h in config.hostnames}
            fqdn = target if target in fqdns else f"{target}.{config.zone.name}".lower()
            if fqdn not in fqdns:
                return _refused(f"no hostname {target!r} (hostnames: {', '.join(sorted(fqdns))})")
            if action == "unpin":
                entry = Entry(PIN, fqdn, False, who=who, reason=reason, stamp=now, origin=me)
                return self._commit(entry, f"{fqdn}: unpinned")
            node = str(request.get("node") or "")
            if node not in node_ids:
                return _refused(f"no node {node!r} (nodes: {', '.join(node_ids)})")
            entry = Entry(PIN, fqdn, True, start, end, node, reason, who, False, now, me)
            return self._commit(entry, entry.describe())
        return _refused(f"unknown action {action!r}")

    def _commit(self, entry: Entry, message: str) -> dict[str, Any]:
        with self._lock:
            self._map.merge([entry])
        self._apply(save=True)
        self.on_change()
        return {"ok": True, "message": message, "entry": entry.as_dict()}

    # ------------------------------------------------------------------ applying

    def _apply(self, save: bool = False, force: bool = False) -> None:
        """Apply the map as it is now; the clock is read once the previous apply is done."""
        with self._applying:
            self._apply_locked(time.time(), save, force)

    def _apply_locked(self, now: float, save: bool, force: bool) -> None:
        with self._lock:
            self._map.forget_old(now)
            active = {e.key: e for e in self._map.active(now)}
            started = [e for k, e in active.items() if k not in self._announced]
            ended = [k for k in self._announced if k not in active]
            if started or ended:
                self._announced = set(active)
                save = True
            entries = list(self._map.entries.values())
            announced = sorted(self._announced)
            ended_entries = [self._map.entries.get(k) or Entry(k[0], k[1], False) for k in ended]
        if save:
            store.save(self.path, entries, announced)
        if not (started or ended or save or force):
            return
        maintenance = frozenset(k[1] for k in active if k[0] == MAINTENANCE)
        pins = {k[1]: (e.node, _pin_why(e)) for k, e in active.items() if k[0] == PIN}
        listing = tuple(
            e.as_dict() | {"in_force": e.key in active}
            for e in sorted(entries, key=lambda e: e.key)
            if e.on and e.end > now
        )
        self._engine.override(maintenance, pins, now, listing)
        self._maint_gauge.clear()
        for node in self._config.nodes:
            self._maint_gauge.labels(node.id).set(1 if node.id in maintenance else 0)
        self._pin_gauge.clear()
        for hostname, (node_id, _) in pins.items():
            self._pin_gauge.labels(hostname, node_id).set(1)
        for entry in started:
            self._tell(entry, True, now)
        for entry in ended_entries:
            self._tell(entry, False, now)

    def _tell(self, entry: Entry, on: bool, now: float) -> None:
        kind = entry.kind
        state = "on" if on else "off"
        what = entry.describe() if on else f"{entry.target}: {kind} {'ended' if entry.on else 'switched off'}"
        if not on and entry.who:
            what += f" (by {entry.who})" if not entry.on else ""
        logger.warning("%s: %s", kind, what)
        if self._history is not None:
            action = kind if kind == MAINTENANCE or on else "unpin"
            node = entry.target if kind == MAINTENANCE else entry.node
            hostname = entry.target if kind == PIN else ""
            self._history.audit(
                action, entry.who, entry.origin, what, node=node, hostname=hostname, new=state
            )
        else:
            self._engine.add_event(Transition(kind, now, "off" if on else "on", state, what))
        if self._notifier is not None and self._is_sender():
            tag = origin_of(self._config).instance
            subject = f"[{tag}] {entry.target}: {kind} {'started' if on else 'ended'}"
            body = f"{what}\n\nTime: {when(now)}\n"
            if kind == MAINTENANCE and on:
                body += "\nIts checks go on and are shown as MAINT; their failures are not mailed.\n"
            self._notifier.notify(subject, body)

    def quiet(self, listener: Listener) -> Listener:
        """Wrap a mail listener: check changes of nodes in maintenance are not mailed."""

        def gated(transitions: list[Transition]) -> None:
            with self._lock:
                resting = self._map.maintenance(time.time())
            kept = [t for t in transitions if not (t.kind == "check" and t.node_id in resting)]
            if kept:
                listener(kept)

        return gated


def _pin_why(entry: Entry) -> str:
    until = "" if entry.end == FOREVER else f" until {when(entry.end)}"
    return f"by {entry.who or '?'}{until}{': ' + entry.reason if entry.reason else ''}"


def _refused(message: str) -> dict[str, Any]:
    return {"ok": False, "message": message}
