"""The history recorder: a queue the service's parts append to, one writer thread, batched writes.

Poll threads, the engine's listeners and the mailer only append to a deque (no lock, no
I/O); every `history.flush_interval` the writer thread takes everything queued, folds it
into time spans and latency buckets (`accounting`) and writes it in transactions of at most
WRITE_SLICE events. So the history never delays a poll or a DNS answer; if the disk is
slow the queue grows up to MAX_QUEUE items and the excess is counted (metric and a logged
warning), never waited for; a write that fails is kept and tried again with the next.

Other parts record through three calls: `record(event)`, `audit(...)` (maintenance, pins,
dashboard actions: who did what, from where, why) and `sent(...)` (a mail or webhook went
out). Anything given to `engine.add_event` is recorded as well.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from habase.service import start_thread

from .. import __version__
from ..config import Config
from ..ops.pidfile import process_alive
from ..pollers.result import PollResult
from ..state import Transition
from . import store
from .accounting import LatencyAccount, TimeAccount, merge_latency, merge_spans
from .store import Event, LatencyCell, LatencyKey, SpanKey, check_track, host_track

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_QUEUE = 200_000
ALARM_INTERVAL = 10.0  # seconds between looks at clustersync's alarms
PRUNE_INTERVAL = 60.0
WRITE_SLICE = 500  # events per transaction (~130 kB)


def event_of(t: Transition, **data: Any) -> Event:
    """A history event from an engine transition."""
    return Event(t.at, t.kind, t.old, t.new, t.reason, t.node_id, t.polling_id, t.hostname, data=data)


class HistoryService:
    """Keeps the history on disk (SQLite, WAL) from its own thread; see the module docstring."""

    name = "history"

    def __init__(self, config: Config, path: Path, registry: CollectorRegistry | None = None) -> None:
        self._config = config
        self.path = path
        self._queue: deque[tuple[Any, ...]] = deque()
        self._lock = threading.Lock()  # the writer's state, against readers of open spans
        self._done = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._times = TimeAccount()
        self._latency = LatencyAccount()
        self._runs: dict[tuple[str, str], tuple[bool, float]] = {}  # (ok, first result of the run)
        self._checks: dict[tuple[str, str], str] = {}
        self._maintenance: set[str] = set()
        self._alarms: dict[str, str] = {}
        self._queued = self._taken = self._written = 0
        self._held: list[Event] = []  # what a failed write left, for the next one
        self._held_spans: dict[SpanKey, float] = {}
        self._held_latency: dict[LatencyKey, LatencyCell] = {}
        self._failing = False
        self.dropped = 0
        self._metrics(registry or CollectorRegistry())

    def _metrics(self, r: CollectorRegistry) -> None:
        self._m_events = Counter(
            "simplefailover_history_events", "Events written to the history", ["kind"], registry=r
        )
        self._m_dropped = Counter(
            "simplefailover_history_dropped", "Items the history queue had no room for", registry=r
        )
        self._m_bytes = Gauge(
            "simplefailover_history_bytes", "Size of the history database with its log", registry=r
        )
        self._m_latency = Histogram(
            "simplefailover_check_latency_seconds",
            "Latency of successful checks per node (observed by the history thread, off the poll path)",
            ["node", "polling"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self._m_transitions = Counter(
            "simplefailover_check_transitions",
            "Status changes of a check, by the status it changed to",
            ["node", "polling", "to"],
            registry=r,
        )

    @property
    def running(self) -> bool:
        return self._db is not None

    # ------------------------------------------------------------ what others call (never blocks)

    def _put(self, item: tuple[Any, ...]) -> None:
        if len(self._queue) >= MAX_QUEUE:
            self.dropped += 1
            self._m_dropped.inc()
            return
        self._queue.append(item)
        self._queued += 1

    def observe_result(self, node: str, polling: str, result: PollResult) -> None:
        """A poll result (called on the poll path: only queues)."""
        self._put(("result", node, polling, result))

    def on_transitions(self, transitions: list[Transition]) -> None:
        """Engine listener: status, answer and all-down changes."""
        self._put(("transitions", transitions))

    def on_event(self, transition: Transition) -> None:
        """Engine event listener: mails sent or failed, reloads, DNS update failures..."""
        self._put(("event", event_of(transition)))

    def record(self, event: Event) -> None:
        """Record any event."""
        self._put(("event", event))

    def audit(
        self,
        action: str,
        who: str,
        from_addr: str,
        why: str,
        *,
        node: str = "",
        polling: str = "",
        hostname: str = "",
        old: str = "",
        new: str = "",
        at: float | None = None,
        **data: Any,
    ) -> None:
        """Record that `who` (from `from_addr`) did `action` because `why`.

        Maintenance (SF-11) is recorded as action "maintenance" with node and new "on" or
        "off": the node's checks are then drawn as MAINT. A pin is action "pin"/"unpin"
        with hostname and node.
        """
        data["action"] = action
        event = Event(
            time.time() if at is None else at, "audit", old, new, why, node, polling, hostname,
            who, from_addr, data,
        )  # fmt: skip
        self._put(("event", event))

    def sent(self, channel: str, outcome: str, target: str, subject: str, detail: str = "") -> None:
        """A notification went out (or failed): channel "mail" or "webhook", target its address."""
        reason = f"{subject}: {detail}" if detail else subject
        self._put(("event", Event(time.time(), channel, "", outcome, reason, data={"target": target})))

    # ------------------------------------------------------------ service

    def start(self) -> None:
        try:
            self._db = store.connect(self.path, write=True)
            self._load()
        except (OSError, sqlite3.Error) as exc:
            logger.error("history off: cannot open %s: %s", self.path, exc)
            self._db = None
            return
        logger.info("history in %s (%.1f MB)", self.path, store.size_bytes(self.path) / 1e6)
        self.record(
            Event(time.time(), "service", "", "started", f"simplefailover {__version__}, pid {os.getpid()}")
        )
        self._stopping = False
        self._thread = start_thread("history", self._run)

    def stop(self) -> None:
        if self._thread is not None:
            self.record(Event(time.time(), "service", "", "stopped", f"pid {os.getpid()}"))
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def reconfigure(self, config: Config) -> None:
        """New limits and flush interval apply at the next write; a new directory at the next start."""
        with self._lock:
            self._config = config
        self._wake.set()

    def wait_written(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is on disk (tests, benches, `stop`)."""
        target = self._queued
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._written >= target or self._db is None, timeout)

    def open_spans(self) -> dict[str, tuple[str, float]]:
        """Each track's state and since when it is not yet counted in the store."""
        with self._lock:
            return self._times.open_spans()

    def reader(self) -> sqlite3.Connection:
        """A read-only connection of the caller's own (close it)."""
        return store.connect(self.path)

    def read(self, fn: Callable[[sqlite3.Connection, dict[str, tuple[str, float]]], T]) -> T:
        """Call fn(connection, open spans) between two writes, so the two add up exactly."""
        with self._lock:
            db = self.reader()
            try:
                return fn(db, self._times.open_spans())
            finally:
                db.close()

    # ------------------------------------------------------------ the writer thread

    def _load(self) -> None:
        assert self._db is not None
        for (node, _, _), event in store.last_states(self._db, "audit").items():
            if event.data.get("action") == "maintenance" and event.new == "on":
                self._maintenance.add(node)
        for (_, name, _), event in store.last_states(self._db, "alarm").items():
            self._alarms[name] = event.new  # the node id may have changed: by alarm name

    def _run(self) -> None:
        last_minute = int(time.time() // 60)
        last_prune = last_alarms = 0.0
        while True:
            self._wake.wait(self._config.history.flush_interval)
            self._wake.clear()
            stopping = self._stopping
            now = time.time()
            minute = int(now // 60)
            if now - last_alarms >= ALARM_INTERVAL and self._config.cluster is not None:
                last_alarms = now
                try:
                    self._look_at_alarms(now)
                except Exception as exc:  # a garbled status file: no alarm event, the rest goes on
                    logger.warning(
                        "history: cannot read clustersync's alarms: %s: %s", type(exc).__name__, exc
                    )
            try:  # whatever goes wrong in one round, the thread goes on with the next
                self._flush(now, advance=minute != last_minute or stopping, final=stopping)
                last_minute = minute
                if stopping or now - last_prune >= PRUNE_INTERVAL:
                    last_prune = now
                    self._prune(now)
            except Exception:
                logger.exception("history: a round of writing to %s failed; will go on", self.path)
            with self._done:
                self._done.notify_all()
            if stopping:
                return

    def _flush(self, now: float, advance: bool, final: bool) -> None:
        db = self._db
        assert db is not None
        with self._lock:
            count = len(self._queue)
            events: list[Event] = self._held
            for _ in range(count):
                events.extend(self._fold(self._queue.popleft()))
            self._taken += count
            if advance:
                self._times.advance(now)
            if final:
                for track in self._times.tracks():
                    self._times.end(track, now)
            spans = merge_spans(self._held_spans, self._times.take())
            latency = merge_latency(self._held_latency, self._latency.take())
            self._held, self._held_spans, self._held_latency = [], {}, {}
            # In slices, looking at the size after each: a storm's batch cannot overshoot the limit.
            first = 0
            try:
                while first == 0 or first < len(events):
                    part = events[first : first + WRITE_SLICE]
                    if part or spans or latency:
                        store.write(db, part, spans, latency)
                    spans, latency = {}, {}
                    first += WRITE_SLICE
                    if self._over_limit():
                        self._prune(now)
            except sqlite3.Error as exc:
                # Kept for the next flush (the disk may be full, another process may hold a lock).
                self._held, self._held_spans, self._held_latency = events[first:], spans, latency
                if len(self._held) > MAX_QUEUE:
                    self.dropped += len(self._held) - MAX_QUEUE
                    del self._held[: len(self._held) - MAX_QUEUE]
                if not self._failing:
                    logger.error(
                        "history: cannot write to %s (%s); keeping what waits and retrying", self.path, exc
                    )
                self._failing = True
                return
            if self._failing:
                logger.info("history: writing to %s again", self.path)
                self._failing = False
            self._written = self._taken
        for event in events:
            self._m_events.labels(event.kind).inc()
        if self.dropped:
            logger.warning("history: %d items dropped (the writer could not keep up)", self.dropped)
            self.record(
                Event(now, "history", "", "dropped", f"{self.dropped} items found no room in the queue")
            )
            self.dropped = 0

    def _over_limit(self) -> bool:
        return store.size_bytes(self.path) > self._config.history.max_mb * 1e6 * 0.75

    def _prune(self, now: float) -> None:
        assert self._db is not None
        settings = self._config.history
        deleted = store.prune(self._db, now, settings.max_age_days, settings.max_mb)
        if deleted:
            logger.info("history: %d old events deleted (max_age_days, max_mb)", deleted)
        self._m_bytes.set(store.size_bytes(self.path))

    def _fold(self, item: tuple[Any, ...]) -> list[Event]:
        kind = item[0]
        if kind == "result":
            _, node, polling, result = item
            self._latency.add(node, polling, result)
            if result.ok:
                self._m_latency.labels(node, polling).observe(result.latency)
            run = self._runs.get((node, polling))
            if run is None or run[0] != result.ok:
                self._runs[(node, polling)] = (result.ok, result.at)
            return []
        if kind == "transitions":
            return self._fold_transitions(item[1])
        event: Event = item[1]
        if event.kind == "audit" and event.data.get("action") == "maintenance" and event.node:
            self._set_maintenance(event.node, event.new == "on", event.at)
        return [event]

    def _fold_transitions(self, transitions: list[Transition]) -> list[Event]:
        out: list[Event] = []
        cause: dict[str, Any] | None = None
        for t in transitions:
            data: dict[str, Any] = {}
            if t.kind in ("check", "observed"):
                key = (t.node_id, t.polling_id)
                run = self._runs.get(key)
                if run is not None:
                    data["first_result_at"] = round(run[1], 3)
                if t.kind == "check":
                    self._m_transitions.labels(t.node_id, t.polling_id, t.new).inc()
                    self._checks[key] = t.new
                    self._times.change(check_track(*key), self._effective(t.node_id, t.new), t.at)
                    cause = {"node": t.node_id, "polling": t.polling_id, "old": t.old, "new": t.new}
                    cause |= {"at": t.at, **data}
            elif t.kind == "answer":
                nodes = self._node_ids(t.new)
                data = {"nodes": nodes, "old_nodes": self._node_ids(t.old), "ttl": self._config.zone.ttl}
                if cause is not None:
                    data["cause"] = cause
                self._times.change(host_track(t.hostname), ",".join(nodes) or "(none)", t.at)
            out.append(event_of(t, **data))
        return out

    def _node_ids(self, addresses: str) -> list[str]:
        by_address = {str(n.address): n.id for n in self._config.nodes}
        return [by_address.get(a.strip(), a.strip()) for a in addresses.split(",") if a.strip() in by_address]

    def _effective(self, node: str, status: str) -> str:
        return "MAINT" if node in self._maintenance else status

    def _set_maintenance(self, node: str, on: bool, at: float) -> None:
        if on:
            self._maintenance.add(node)
        else:
            self._maintenance.discard(node)
        for (n, polling), status in self._checks.items():
            if n == node:
                self._times.change(check_track(n, polling), self._effective(n, status), at)

    def _look_at_alarms(self, now: float) -> None:
        """clustersync's three alarms, from the status file its `run` writes (what the HA page reads)."""
        cluster = self._config.cluster
        assert cluster is not None
        from clustersync import api

        health = api.health(self._config)
        if health is None:
            return  # clustersync has never run here
        current = api.alarms(self._config, health, process_alive(health.get("pid")), now)
        for name, alarm in current.items():
            if not isinstance(alarm, Mapping) or "state" not in alarm:
                continue
            state = str(alarm["state"])
            old = self._alarms.get(name, "")
            if state != old:
                self._alarms[name] = state
                reason = str(alarm.get("reason") or "")
                self.record(Event(now, "alarm", old, state, reason, node=cluster.node_id, polling=name))
