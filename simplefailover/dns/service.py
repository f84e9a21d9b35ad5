"""The DNS responder as a service: follows the engine's table, serves it on dns.listen."""

from __future__ import annotations

import logging
import socket
import threading

from habase.service import start_thread

from ..config import Config, format_hostport
from ..engine import Engine
from ..metrics import Metrics
from ..state import Transition
from .answers import RCODE_NAMES
from .responder import Responder
from .server import DnsServer, open_pair
from .workers import WorkerPool
from .zone import ZoneData, zone_data

logger = logging.getLogger(__name__)

REFRESH_EVERY = 1.0  # seconds; a safety net, changes are pushed at once


class DnsService:
    """Answer DNS for the zone from the engine's current answer table."""

    name = "dns"

    def __init__(self, config: Config, engine: Engine, metrics: Metrics) -> None:
        self.engine = engine
        self._config = config
        self.responder = Responder(self._current())
        self._server: DnsServer | None = None
        self._pool: WorkerPool | None = None
        self._refresh_lock = threading.Lock()  # data reaches the workers in order
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        engine.subscribe(self._on_transitions)
        metrics.add_dns_counts(self.count_by_name)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it listens, ports as bound (useful with port 0)."""
        return self._server.addresses if self._server else []

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the extra responder processes (dns.workers > 1)."""
        return self._pool.pids if self._pool else []

    def start(self) -> None:
        self._stopping.clear()
        self.refresh()
        self._listen(self._config)
        self._thread = start_thread("dns-refresh", self._follow)
        logger.info("DNS answering for %s on %s", self._config.zone.name, _show(self.addresses))

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(5)
        self._close()

    def reconfigure(self, config: Config) -> None:
        """Take a new config; reopen the sockets only when the dns settings changed."""
        old, self._config = self._config, config
        self.refresh()
        if self._server is not None and old.dns != config.dns:
            # An address cannot be bound twice, so close first: a short gap, only when
            # the dns settings themselves change.
            logger.info("dns settings changed: reopening on %s", ", ".join(config.dns.listen))
            self._close()
            self._listen(config)

    def refresh(self) -> None:
        """Serve the engine's current table if it differs from what is served."""
        with self._refresh_lock:
            data = self._current()
            if self.responder.update(data):
                logger.debug("DNS serving serial %d", data.serial)
                if self._pool is not None:
                    self._pool.push(data)

    def count_by_name(self) -> dict[str, int]:
        """Queries answered by rcode name, this process and the workers together."""
        counts = list(self.responder.counts)
        if self._pool is not None:
            counts = [a + b for a, b in zip(counts, self._pool.counts(), strict=True)]
        return {RCODE_NAMES.get(code, str(code)): n for code, n in enumerate(counts) if n}

    def _current(self) -> ZoneData:
        engine = self.engine
        return zone_data(engine.config, engine.table, engine.check_state)

    def _listen(self, config: Config) -> None:
        workers = config.dns.workers
        pairs: list[tuple[socket.socket, socket.socket]] = []
        try:
            for host, port in config.dns.addresses():
                pairs.append(open_pair(host, port, reuse_port=workers > 1))
        except BaseException:
            for udp, tcp in pairs:
                udp.close()
                tcp.close()
            raise
        self._server = DnsServer(
            [udp for udp, _ in pairs],
            [tcp for _, tcp in pairs],
            self.responder.respond,
            tcp_idle_timeout=config.dns.tcp_idle_timeout,
            tcp_max_connections=config.dns.tcp_max_connections,
        )
        self._server.start()
        if workers > 1:
            with self._refresh_lock:
                self._pool = WorkerPool(workers - 1, self._server.addresses)
                try:
                    self._pool.start(self.responder.data)
                except BaseException:
                    self._pool = None
                    self._close()
                    raise

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _on_transitions(self, transitions: list[Transition]) -> None:
        self._changed.set()  # called from a poll thread: only flag, the refresh thread works

    def _follow(self) -> None:
        while not self._stopping.is_set():
            self._changed.wait(REFRESH_EVERY)
            self._changed.clear()
            if not self._stopping.is_set():
                self.refresh()


def _show(addresses: list[tuple[str, int]]) -> str:
    return ", ".join(format_hostport(h, p) for h, p in addresses)
