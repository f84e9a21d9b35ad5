"""`clustersync run`: serve the sync and control ports and sync around the ring."""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from simplefailover.config import Cluster, Config

from .errors import ClusterSyncError, ProtocolError, Refused, RemoteError
from .membership import serve_join
from .protocol import Channel, Message, load_secret
from .ring import choose_peers, ring_order
from .server import Handler, Server, open_channel
from .session import Context, Report, run_client, run_server
from .shared_node import SharedNode, shared_cluster
from .status import Health
from .store import Member, Store

logger = logging.getLogger(__name__)

TICK = 0.1  # seconds between looks for new local changes


def cluster_of(config: Config) -> Cluster:
    """The cluster section, checked for what a replicated member needs."""
    cluster = config.cluster
    where = config.source
    if cluster is None:
        raise ClusterSyncError(f"{where}: no cluster: section")
    if cluster.strategy == "shared":
        return shared_cluster(config)
    if cluster.database is None:
        raise ClusterSyncError(f"{where}: cluster.database is required for strategy replicated")
    if cluster.address is None:
        raise ClusterSyncError(f"{where}: cluster.address is required (the address other members use)")
    return cluster


def open_store(config: Config) -> Store:
    """Open this node's database with capture installed."""
    cluster = cluster_of(config)
    if cluster.strategy != "replicated" or cluster.database is None:
        raise ClusterSyncError(
            f"{config.source}: strategy {cluster.strategy} keeps no local sync database (cluster.database)"
        )
    offset = cluster.test_clock_offset
    cluster.database.parent.mkdir(parents=True, exist_ok=True)
    return Store(
        cluster.database,
        cluster.node_id,
        list(cluster.tables.replicated),
        clock=(lambda: time.time() + offset) if offset else time.time,
        where=f"{config.source}: cluster.tables.replicated",
    )


class Node:
    """A running member: two servers and the ring loop."""

    def __init__(self, config: Config) -> None:
        self.cluster = cluster_of(config)
        self.store = open_store(config)
        if not self.store.meta("member"):
            self.store.close()
            raise ClusterSyncError(
                f"{config.source}: this node is not a member yet: run clustersync create or join"
            )
        self.secret = load_secret(self.cluster.secret_path())
        self.clock = self.store.clock
        self.ctx = Context(
            self.store,
            self.cluster.max_clock_offset,
            self.cluster.batch_rows,
            self.clock,
            on_applied=self._applied,
        )
        self.health = Health(self.cluster.node_id)
        self.failed_until: dict[str, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.servers: list[Server] = []
        self._thread: threading.Thread | None = None

    def _secret(self) -> bytes:
        return self.secret

    def _applied(self, count: int) -> None:
        if count:
            self._wake.set()  # pass new changes on at once rather than at the next interval

    def start(self, loop: bool = True) -> None:
        """Listen on the control and data ports and start the ring loop (tests may drive it)."""
        host = str(self.cluster.address)
        c = self.cluster

        def listen(name: str, port: int, handlers: dict[str, Handler]) -> Server:
            return Server(
                name, (host, port), self._secret, handlers, c.max_message, c.timeout * 2, self.clock
            )

        self.servers = [
            listen("control", c.port, {"join": self._serve_join}),
            listen("data", c.sync_port(), {"sync": self._serve_sync}),
        ]
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
        for server in self.servers:
            server.stop()
        if self._thread:
            self._thread.join(self.cluster.timeout * 3)
        self.store.close()

    def _serve_join(self, ch: Channel, first: Message, peer: str) -> None:
        serve_join(ch, self.store, first, self.cluster.batch_rows)
        self._wake.set()

    def _serve_sync(self, ch: Channel, first: Message, peer: str) -> None:
        try:
            report = run_server(ch, self.ctx, first)
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
                fresh = self.store.stamp()
                now = time.monotonic()
                if fresh or woken or now >= next_round:
                    next_round = now + self.cluster.sync_interval
                    self.run_round()
                if now >= next_gc:
                    next_gc = now + self.cluster.gc_interval
                    dropped = self.store.gc()
                    if dropped:
                        logger.info("removed %d tombstones every member has", dropped)
            except Exception:
                logger.exception("sync round failed")  # one bad round never stops the loop
                self._stop.wait(1)

    def run_round(self) -> Report | None:
        """Sync with the successor, or the next member in ring order that answers."""
        members = self.store.members()
        order = ring_order(members, self.cluster.node_id)
        self.health.successor = order[0].node_id if order else None
        result = None
        for member in choose_peers(members, self.cluster.node_id, self.failed_until, time.monotonic()):
            report = self._sync_with(member)
            self.health.record(report)
            result = report
            if report.ok:
                if member is not order[0]:
                    logger.info("synced with %s instead of successor %s", member.node_id, order[0].node_id)
                break
            if report.refused == "busy":
                self._wake.set()  # it is syncing with someone else: try again shortly
                time.sleep(random.uniform(0.05, 0.3))  # jitter, so two busy members do not meet again
                break
            self.failed_until[member.node_id] = time.monotonic() + self.cluster.retry_interval
        self.health.save(self.cluster.state_dir)
        return result

    def _sync_with(self, member: Member) -> Report:
        report = Report(member.node_id, time.time())
        try:
            with self.ctx.lock:
                ch = open_channel(
                    (member.address, member.data_port), self.secret, self.cluster.max_message,
                    self.cluster.timeout, self.clock,
                )  # fmt: skip
                try:
                    report = run_client(ch, self.ctx, member.node_id)
                finally:
                    ch.sock.close()
            self.failed_until.pop(member.node_id, None)
            if report.sent or report.received:
                logger.debug(
                    "synced with %s: sent %d, received %d", member.node_id, report.sent, report.received
                )
        except Refused as exc:
            report.refused, report.error, report.offset = exc.reason, str(exc), exc.offset
            level = logging.DEBUG if exc.reason == "busy" else logging.WARNING
            logger.log(level, "sync with %s refused: %s", member.node_id, exc)
        except (OSError, ProtocolError, RemoteError) as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            logger.warning("sync with %s (%s) failed: %s", member.node_id, member.address, report.error)
        return report


def run(config: Config, config_path: Path) -> int:
    """Run until SIGTERM or SIGINT."""
    node = SharedNode(config) if cluster_of(config).strategy == "shared" else Node(config)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    node.start()
    try:
        while not done.wait(1):
            pass
    finally:
        node.stop()
    logger.info("clustersync stopped (%s)", config_path)
    return 0
