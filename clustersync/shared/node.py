"""`clustersync create|join|remove|run|status` for strategy shared: membership in the database.

`run` keeps this member's heartbeat in the shared database every sync_interval and writes
what it found to state_dir/status.json; readiness turns red with the reason as soon as the
database does not answer, and green again when it does.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from habase.hostport import parse_hostport
from habase.notify import Notifier

from ..config import Cluster, ClusterConfig
from ..core.errors import ClusterSyncError
from ..core.events import READY, TIME_OK, events
from ..core.status import alarms, load_health, stale_after
from ..ops import event_log
from ..ops.control import stopped_reason, version_of
from ..wire import health_http
from ..wire.metrics import Metrics
from ..wire.server import Server
from . import membership as shared
from .driver import psycopg
from .health import SharedHealth
from .section import shared_cluster

logger = logging.getLogger(__name__)

EventHook = Callable[[str, str], None]  # (event kind, mail subject), called after each mailed event


def _connect(cluster: Cluster) -> psycopg.Connection[Any]:
    assert cluster.dsn is not None
    return shared.connect(cluster.dsn, cluster.timeout, cluster.node_id)


def create(config: ClusterConfig) -> str:
    """Make this node the first member of a cluster in the shared database; return the cluster id."""
    cluster = shared_cluster(config)
    assert cluster.dsn is not None
    with _connect(cluster) as conn:
        cid = shared.create(conn, cluster.node_id, str(cluster.address), cluster.port, version_of(cluster))
    shared.save_marker(cluster.state_dir, cid, cluster.dsn)
    return cid


def join(config: ClusterConfig, peer: str) -> tuple[str, int]:
    """Join the cluster recorded in the shared database, of which peer is a member."""
    cluster = shared_cluster(config)
    assert cluster.dsn is not None
    try:
        host, _ = parse_hostport(peer, cluster.port)
    except ValueError as exc:
        raise ClusterSyncError(f"--peer: {exc}") from None
    with _connect(cluster) as conn:
        cid, position = shared.join(
            conn, cluster.node_id, str(cluster.address), cluster.port, host, version_of(cluster)
        )
    shared.save_marker(cluster.state_dir, cid, cluster.dsn)
    return cid, position


def remove(config: ClusterConfig, node_id: str) -> None:
    """Remove a member from the shared database's cluster (this node's marker too, if it is this one)."""
    cluster = shared_cluster(config)
    with _connect(cluster) as conn:
        shared.remove(conn, node_id)
    if node_id == cluster.node_id:
        (cluster.state_dir / shared.MARKER_FILE).unlink(missing_ok=True)


def _why(exc: Exception, dsn: str) -> str:
    """A failed check on one line, without the password (a lost connection says which database)."""
    if isinstance(exc, shared.DatabaseError):
        return str(exc)
    return f"{shared.safe_dsn(dsn)}: {shared.describe(exc, dsn)}"


def _stale_after(cluster: Cluster) -> float:
    return stale_after(cluster.sync_interval, cluster.timeout)


class SharedNode:
    """A running shared member: a heartbeat loop against the database; transitions are mailed."""

    def __init__(self, config: ClusterConfig, on_event: EventHook | None = None) -> None:
        self.config = config
        self.cluster = shared_cluster(config)
        assert self.cluster.dsn is not None
        if shared.load_marker(self.cluster.state_dir) is None:
            raise ClusterSyncError(
                f"{config.source}: this node is not a member yet: run clustersync create or join"
            )
        self.dsn = self.cluster.dsn
        self.version = version_of(self.cluster)
        self.health = SharedHealth(self.cluster.node_id, self.version, database=shared.safe_dsn(self.dsn))
        self.notifier = Notifier(config.monitoring)
        self.on_event = on_event
        self.last_alarms: dict[str, Any] | None = None  # as last reported
        self.metrics = Metrics(self.alarms, lambda: {"members": len(self.health.members)})
        self.server: Server | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def apply(self, config: ClusterConfig) -> None:
        """Run with a reloaded config from now on (runner.plan_reload kept what needs a restart)."""
        cluster = shared_cluster(config)
        self.notifier.reconfigure(config.monitoring)
        self.config, self.cluster = config, cluster

    @property
    def ready(self) -> bool | None:
        """Readiness as last evaluated (None: not yet)."""
        return None if self.last_alarms is None else bool(self.last_alarms["readiness"]["ready"])

    def alarms(self) -> dict[str, Any]:
        """The three alarms now (SPEC CL-7), from what this running daemon knows."""
        health = asdict(self.health) | {"updated": time.time()}
        return alarms(not self.health.removed, health, _stale_after(self.cluster), time.time())

    def _http(self, conn: socket.socket, head: bytes) -> None:
        health_http.serve(conn, head, self.cluster.node_id, self.alarms, self.metrics.text)

    def start(self, loop: bool = True) -> None:
        """Serve the HTTP health endpoints on the control port; start the heartbeat loop."""
        c = self.cluster
        # Only HTTP is answered here: a secret nobody holds refuses every clustersync request.
        nobody = secrets.token_bytes(32)
        self.server = Server(
            "control", (str(c.address), c.port), lambda: nobody, {}, c.max_message, c.timeout * 2, time.time,
            http=self._http,
        )  # fmt: skip
        self.server.start()
        self.notifier.start()
        if loop:
            self._thread = threading.Thread(target=self._loop, name="clustersync-shared", daemon=True)
            self._thread.start()
        logger.info(
            "clustersync %s running, strategy shared on %s; health HTTP on %s port %d",
            c.node_id, self.health.database, c.address, c.port,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the loop, close the connection, send what mail is pending."""
        self._stop.set()
        if self.server is not None:
            self.server.stop()
        if self._thread:
            self._thread.join(self.cluster.timeout * 3)
        self._close()
        self.notifier.wait_idle(2)  # a last transition's mail, if the SMTP server answers at once
        self.notifier.stop()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):  # the server is gone: nothing to close cleanly
                self._conn.close()
            self._conn = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:
                logger.exception("shared database check failed")  # one bad check never stops the loop
            self._stop.wait(self.cluster.sync_interval)

    def check(self) -> None:
        """Beat, read the members, save status.json and report what changed."""
        self.health.stopped = stopped_reason(self.cluster.state_dir)
        if self.health.stopped:  # clustersync service stop: no heartbeat, the others see it age
            self._close()
            self.health.partner = None
            self.health.save(self.cluster.state_dir)
            self._report()
            return
        try:
            if self._conn is None or self._conn.closed:
                self._conn = _connect(self.cluster)
            skew = self.cluster.test_clock_offset
            with shared.deadline(self._conn, max(2.0, 2 * self.cluster.timeout), self.dsn):
                before = time.time() + skew
                db_clock = shared.heartbeat(self._conn, self.cluster.node_id, self.version)
                after = time.time() + skew
                found = shared.members(self._conn)
        except (shared.DatabaseError, psycopg.Error) as exc:
            self._close()
            error = _why(exc, self.dsn)
            logger.debug("shared database check failed: %s", error)
            self.health.database_failed(error, time.time())
        else:
            self.health.database_ok(shared.member_dicts(found), db_clock is not None, after - skew)
            if db_clock is not None:
                self.health.clock(db_clock - (before + after) / 2, self.cluster.max_clock_offset)
            self.health.versions(self.version)
        self.health.save(self.cluster.state_dir)
        self._report()

    def _report(self) -> None:
        """Log and mail each transition of the alarms (the events of SPEC CL-8)."""
        new, now = self.alarms(), time.time()
        for event in events(self.last_alarms, new, self.cluster.node_id, now):
            level = logging.INFO if event.kind in (READY, TIME_OK) else logging.WARNING
            logger.log(level, "event %s: %s", event.kind, event.subject)
            self.notifier.notify(event.subject, event.body)
            event_log.record(self.cluster.state_dir, event, now)  # for the dashboard's HA page
            if self.on_event is not None:
                self.on_event(event.kind, event.subject)
        self.last_alarms = new


def status_data(config: ClusterConfig) -> dict[str, Any]:
    """Members, strategy and alarms of a shared member, as JSON-ready data (same shape as replicated)."""
    cluster = shared_cluster(config)
    assert cluster.dsn is not None
    health = load_health(cluster.state_dir)
    if health is not None and health.get("strategy") != "shared":
        health = None  # left by a run with another strategy
    found: list[dict[str, Any]] | None = None
    db_error = None
    try:
        with _connect(cluster) as conn, shared.deadline(conn, max(2.0, 2 * cluster.timeout), cluster.dsn):
            found = shared.member_dicts(shared.members(conn))
    except (shared.DatabaseError, psycopg.Error) as exc:
        db_error = _why(exc, cluster.dsn)
    if found is None:
        rows = list(health.get("members", [])) if health else []
        member = shared.load_marker(cluster.state_dir) is not None
    else:
        rows = found
        member = any(m["node_id"] == cluster.node_id for m in found)
    return {
        "node_id": cluster.node_id,
        "strategy": cluster.strategy,
        "version": version_of(cluster),
        "replication": "stopped" if stopped_reason(cluster.state_dir) else "running",
        "partner": (health or {}).get("partner"),
        "member": member,
        "database": shared.safe_dsn(cluster.dsn),
        "database_error": db_error,
        "members": [
            {
                "id": m["node_id"],
                "address": m["address"],
                "position": m["position"],
                "version": m["version"],
                "local": m["node_id"] == cluster.node_id,
                "strategy": cluster.strategy,
                "sync_partner": False,  # no member syncs with another: the database is the partner
                "lag": None,  # nothing to catch up: one database
                "heartbeat_age": m.get("heartbeat_age"),  # seconds since its last beat (database clock)
            }
            for m in rows
        ],
        "alarms": alarms(member, health, _stale_after(cluster), time.time()),
        "vector": {},  # no sync: the data is the database's
        "pending": 0,
        "counters": {},
    }
