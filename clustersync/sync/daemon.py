"""`clustersync run`: serve the sync and control ports and sync around the ring."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from habase.notify import Notifier

from ..config import ClusterConfig
from ..core.errors import ApplyError, ClusterSyncError, ProtocolError, Refused, RemoteError
from ..core.events import Newcomers, events, hold_newcomers
from ..core.ring import choose_peers, ring_order
from ..core.status import Health, alarms
from ..join.incoming import is_member
from ..join.members import serve_join
from ..ops import event_log
from ..ops.control import (
    delete_member,
    identity_problem,
    removed_refusal,
    stopped_reason,
    tombstone,
    version_of,
)
from ..ops.migrate import serve_migrate
from ..store.database import Member
from ..store.local import open_store, replicated_cluster
from ..wire import health_http
from ..wire.metrics import Metrics
from ..wire.protocol import Channel, Message, load_secret
from ..wire.server import Handler, HttpHandler, Server, open_channel
from .session import Context, Report, run_client, run_server

logger = logging.getLogger(__name__)

TICK = 0.1  # seconds between looks for new local changes


class Node:
    """A running member: two servers and the ring loop."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.cluster = replicated_cluster(config)
        self.store = open_store(config)
        if not self.store.meta("member"):
            self.store.close()
            raise ClusterSyncError(
                f"{config.source}: this node is not a member yet: run clustersync create or join"
            )
        self.version = version_of(self.cluster)
        self._check_identity(config.source)
        self.secret = load_secret(self.cluster.secret_path())
        self.clock = self.store.clock
        self.ctx = Context(
            self.store,
            self.cluster.max_clock_offset,
            self.cluster.batch_rows,
            self.clock,
            version=self.version,
            on_applied=self._applied,
        )
        self.health = Health(self.cluster.node_id, self.version)
        self.notifier = Notifier(config.monitoring)
        self.metrics = Metrics(self.alarms, self._counts)
        self.last_alarms: Mapping[str, Any] | None = None  # as last mailed about
        self.failed_until: dict[str, float] = {}
        # a member just admitted (or met at start) may not run yet: hold its failures a while
        self.newcomers = Newcomers(self.cluster.retry_interval + 2 * self.cluster.timeout)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._session: socket.socket | None = None  # the connection of this member's session under way
        self._session_lock = threading.Lock()
        self.servers: list[Server] = []
        self._thread: threading.Thread | None = None

    def _check_identity(self, where: str) -> None:
        """Refuse a changed node id or address (SPEC CL-3); record our id and version as a member."""
        members = self.store.members()
        recorded = self.store.meta("node_id")
        problem = identity_problem(members, recorded, self.cluster.node_id, str(self.cluster.address))
        if problem:
            self.store.close()
            raise ClusterSyncError(f"{where}: {problem}")
        if recorded is None:
            self.store.set_meta("node_id", self.cluster.node_id)
        ours = next((m for m in members if m.node_id == self.cluster.node_id), None)
        if ours is not None and ours.version != self.version:
            logger.info("this member now runs version %s (was %s)", self.version, ours.version)
            self.store.add_member(dataclasses.replace(ours, version=self.version))

    def _secret(self) -> bytes:
        return self.secret

    def apply(self, config: ClusterConfig) -> None:
        """Run with a reloaded config from now on (runner.plan_reload kept what needs a restart)."""
        cluster = replicated_cluster(config)
        self.notifier.reconfigure(config.monitoring)  # first: what can fail, before anything changed
        with self.ctx.lock:  # between two sessions
            self.ctx.max_offset = cluster.max_clock_offset
            self.ctx.batch_rows = cluster.batch_rows
            self.config, self.cluster = config, cluster
        self.newcomers.grace = cluster.retry_interval + 2 * cluster.timeout
        self._wake.set()  # a new sync_interval counts from now

    def alarms(self) -> dict[str, Any]:
        """The three alarms now (SPEC CL-7), from what this running daemon knows."""
        self.health.updated = time.time()
        snapshot, at = self.health.snapshot(), time.time()
        now = alarms(not self.health.removed, snapshot, 60, at)
        synced = (snapshot.get("last_ok") or {}).get("at")
        now["data"] = {"last_sync_at": synced, "age": None if synced is None else max(0.0, at - synced)}
        if not self.health.removed:  # the database is closed once removed (a join may replace it)
            now["conflicts"] = self.store.open_conflicts()
        return now

    def _counts(self) -> dict[str, int]:
        if self.health.removed:
            return {}  # the database is closed (a join may replace it)
        counts = {k: self.store.counter(k) for k in ("applied", "duplicates", "conflicts")}
        return counts | {"pending": self.store.pending(), "members": len(self.store.members())}

    def _http(self, conn: socket.socket, head: bytes) -> None:
        health_http.serve(conn, head, self.cluster.node_id, self.alarms, self.metrics.text)

    def _applied(self, count: int) -> None:
        if count:
            self._wake.set()  # pass new changes on at once rather than at the next interval

    def start(self, loop: bool = True) -> None:
        """Listen on the control and data ports and start the ring loop (tests may drive it)."""
        host = str(self.cluster.address)
        c = self.cluster

        def listen(
            name: str, port: int, handlers: dict[str, Handler], http: HttpHandler | None = None
        ) -> Server:
            return Server(
                name,
                (host, port),
                self._secret,
                handlers,
                c.max_message,
                c.timeout * 2,
                self.clock,
                http=http,
            )

        control: dict[str, Handler] = {
            "join": self._serve_join, "remove": self._serve_remove, "version": self._serve_version,
            "migrate": lambda ch, first, peer: serve_migrate(ch, first, c, self._wake.set),
        }  # fmt: skip
        self.servers = [
            listen("control", c.port, control, self._http),
            listen("data", c.sync_port(), {"sync": self._serve_sync}),
        ]
        self.notifier.start()
        for each in self.servers:
            each.start()
        if loop:
            self._thread = threading.Thread(target=self._loop, name="clustersync-ring", daemon=True)
            self._thread.start()
        logger.info(
            "clustersync %s running: control %s:%d, data %s:%d",
            self.cluster.node_id, host, self.cluster.port, host, self.cluster.sync_port(),
        )  # fmt: skip

    def stop(self) -> None:
        """Stop serving and syncing."""
        self._stop.set()
        self._wake.set()
        with self._session_lock:  # a session waiting on a peer that does not answer ends now
            if self._session is not None:
                with contextlib.suppress(OSError):
                    self._session.shutdown(socket.SHUT_RDWR)
        for server in self.servers:
            server.stop()
        if self._thread:
            self._thread.join(self.cluster.timeout * 3)
        self.notifier.wait_idle(2)  # a last transition's mail, if the SMTP server answers at once
        self.notifier.stop()
        self.store.close()

    def _serve_join(self, ch: Channel, first: Message, peer: str) -> None:
        if self.health.removed or self.health.stopped:
            why = "no longer a member" if self.health.removed else "replication is stopped here"
            detail = f"{self.cluster.node_id} cannot admit anyone: {why}; ask another member"
            ch.send({"type": "refused", "reason": "not_member", "detail": detail})
            return
        serve_join(ch, self.store, first, self.cluster)
        self._wake.set()

    def _serve_remove(self, ch: Channel, first: Message, peer: str) -> None:
        node = str(first.get("node"))
        members = [] if self.health.removed else self.store.members()
        if node == self.cluster.node_id or node not in {m.node_id for m in members} or len(members) < 2:
            detail = f"{node!r} cannot be removed through {self.cluster.node_id} (not another member)"
            ch.send({"type": "refused", "reason": "remove", "detail": detail})
            return
        delete_member(self.store.path, node)
        logger.info("member %s removed (asked by %s from %s)", node, first.get("by"), peer)
        ch.send({"type": "removed", "node": node})
        self._wake.set()

    def _serve_version(self, ch: Channel, first: Message, peer: str) -> None:
        ch.send({"type": "version", "node": self.cluster.node_id, "version": self.version})

    def _refusal(self, first: Message) -> tuple[str, str] | None:
        """Why a sync request must be refused before any data moves, or None."""
        if self.health.removed:
            return "stopped", f"{self.cluster.node_id} is no longer a member of the cluster"
        if self.health.stopped:
            return "stopped", f"replication is stopped on {self.cluster.node_id} ({self.health.stopped})"
        node = str(first.get("node"))
        if node in {m.node_id for m in self.store.members()}:
            return None
        return removed_refusal(node, tombstone(self.store.path, node), first.get("known"))

    def _serve_sync(self, ch: Channel, first: Message, peer: str) -> None:
        refusal = self._refusal(first)
        if refusal is not None:
            ch.send({"type": "refused", "reason": refusal[0], "detail": refusal[1]})
            raise Refused(*refusal)
        try:
            report = run_server(ch, self.ctx, first)
        except ApplyError as exc:
            self.health.apply_error = str(exc)
            raise
        except Refused as exc:
            self.health.record(
                Report(str(first.get("node")), time.time(), refused=exc.reason, error=str(exc))
            )
            raise
        self.health.record(report)

    def _loop(self) -> None:
        next_round = 0.0
        next_gc = time.monotonic() + self.cluster.gc_interval
        while not self._stop.is_set():
            woken = self._wake.wait(TICK)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                now = time.monotonic()
                if not self._may_sync(now >= next_round):
                    next_round = now + self.cluster.sync_interval if now >= next_round else next_round
                    continue
                fresh = self.store.stamp()
                if fresh or woken or now >= next_round:
                    next_round = now + self.cluster.sync_interval
                    self._release_quarantined()
                    self.run_round()
                if now >= next_gc and not self.health.removed:
                    next_gc = now + self.cluster.gc_interval
                    dropped = self.store.gc()
                    if dropped:
                        logger.info("removed %d tombstones every member has", dropped)
            except sqlite3.Error as exc:
                if self.health.database_error is None:
                    logger.error("database %s unreachable: %s", self.cluster.database, exc)
                self.health.database_error = f"{self.cluster.database}: {exc}"
                self.health.partner = None
                self._evaluate()
                self._stop.wait(1)
            except Exception:
                logger.exception("sync round failed")  # one bad round never stops the loop
                self._stop.wait(1)

    def _release_quarantined(self) -> None:
        """Write the changes this database refused once their cause is fixed (quarantine.py)."""
        written, held = self.store.retry_quarantined()
        if written:
            logger.warning("%d quarantined change(s) written now; %d still held", written, held)
        self.health.quarantined = held

    def _may_sync(self, due: bool) -> bool:
        """Obey `clustersync service stop|start` and removal; keep the status fresh meanwhile."""
        stopped = stopped_reason(self.cluster.state_dir)
        if stopped != self.health.stopped:
            logger.warning("replication %s", f"stopped: {stopped}" if stopped else "started again")
            self.health.stopped = stopped
            self.health.partner = None
            self._evaluate()
        if self.health.removed and due and is_member(self.cluster.database or Path()):
            self._rejoined()
        idle = stopped is not None or self.health.removed
        if idle and due:
            self.health.save(self.cluster.state_dir)
        return not idle

    def _rejoined(self) -> None:
        """`clustersync join` made this removed node a member again: resume on the new database."""
        logger.warning("this node is a member again (joined): replication resumes")
        with self.ctx.lock:
            self.store = open_store(self.config)
            self.ctx.store = self.store
        self.failed_until.clear()
        self.health.tried.clear()
        self.health.removed = False

    def _removed(self, why: str) -> None:
        """This node is no longer a member: stop syncing, keep the data, allow a later join."""
        if self.health.removed:
            return
        logger.warning("this node was removed from the cluster (%s): replication stops, data kept", why)
        self.health.removed = True
        self.health.partner = None
        self.store.set_meta("member", 0)
        self._evaluate()
        with self.ctx.lock:
            self.store.close()  # let a later join replace the database file

    def _evaluate(self) -> None:
        """Save the status; mail each alarm transition once (SPEC CL-8)."""
        self.health.save(self.cluster.state_dir)
        now = hold_newcomers(self.last_alarms, self.alarms(), self.newcomers.held(time.monotonic()))
        at = time.time()
        for event in events(self.last_alarms, now, self.cluster.node_id, at):
            logger.warning("event: %s", event.subject)
            self.notifier.notify(event.subject, event.body)
            event_log.record(self.cluster.state_dir, event, at)  # for the dashboard's HA page
        self.last_alarms = now

    def run_round(self) -> Report | None:
        """Sync with the successor, or the next member in ring order that answers."""
        members = self.store.members()
        ids = {m.node_id for m in members}
        if self.cluster.node_id not in ids:
            self._removed("its member row was deleted")
            return None
        order = ring_order(members, self.cluster.node_id)
        self.health.successor = order[0].node_id if order else None
        self.health.forget(ids)
        self.newcomers.saw(ids - {self.cluster.node_id}, time.monotonic())
        result, partner = None, None
        for member in choose_peers(members, self.cluster.node_id, self.failed_until, time.monotonic()):
            if self._stop.is_set():
                break  # stopping: no further member is tried (each may take cluster.timeout)
            report = self._sync_with(member)
            self.health.record(report)
            self.metrics.sessions.labels("ok" if report.ok else report.refused or "error").inc()
            result = report
            if report.refused == "removed":
                self._removed(report.error or "refused as removed")
                return report
            if report.ok or report.refused == "busy":
                partner = member.node_id  # busy: it answers, and is in a session with someone else
                self.newcomers.answered(member.node_id)
                self.health.tried.pop(member.node_id, None)
                self.metrics.sent.inc(report.sent)
                self.metrics.received.inc(report.received)
                if report.ok and member is not order[0]:
                    logger.info("synced with %s instead of successor %s", member.node_id, order[0].node_id)
                if report.refused == "busy":
                    self._wake.set()  # try again shortly
                    time.sleep(random.uniform(0.05, 0.3))  # jitter, so two busy members do not meet again
                break
            self.health.tried[member.node_id] = report.error or str(report.refused)
            self.failed_until[member.node_id] = time.monotonic() + self.cluster.retry_interval
        self.health.partner = partner
        self.health.database_error = None
        self._evaluate()
        return result

    def _opened(self, sock: socket.socket) -> None:
        """A session's socket, before it connects: stop() shuts it down (see stop)."""
        with self._session_lock:
            if self._stop.is_set():
                raise OSError("stopping")
            self._session = sock

    def _sync_with(self, member: Member) -> Report:
        report = Report(member.node_id, time.time())
        try:
            with self.ctx.lock:
                try:
                    ch = open_channel(
                        (member.address, member.data_port), self.secret, self.cluster.max_message,
                        self.cluster.timeout, self.clock, self._opened,
                    )  # fmt: skip
                    try:
                        report = run_client(ch, self.ctx, member.node_id)
                    finally:
                        ch.sock.close()
                finally:
                    with self._session_lock:
                        self._session = None
            self.failed_until.pop(member.node_id, None)
            if report.sent or report.received:
                logger.debug(
                    "synced with %s: sent %d, received %d", member.node_id, report.sent, report.received
                )
        except Refused as exc:
            report.refused, report.error, report.offset = exc.reason, str(exc), exc.offset
            level = logging.DEBUG if exc.reason == "busy" else logging.WARNING
            logger.log(level, "sync with %s refused: %s", member.node_id, exc)
        except ApplyError as exc:
            report.error = str(exc)
            self.health.apply_error = str(exc)
            logger.error("changes from %s cannot be applied: %s", member.node_id, exc)
        except (OSError, ProtocolError, RemoteError) as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            if self._stop.is_set():
                logger.info("sync with %s ended: this member stops", member.node_id)
            else:
                logger.warning("sync with %s (%s) failed: %s", member.node_id, member.address, report.error)
        if report.ok:
            self.health.apply_error = None
        return report
