"""The DNS responder as a service: follows the engine's table, serves it on dns.listen."""

from __future__ import annotations

import logging
import threading

from ..config import Config
from ..engine import Engine
from ..metrics import Metrics
from ..service import start_thread
from ..state import Transition
from .responder import Responder
from .server import DnsServer, open_pair
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
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        engine.subscribe(self._on_transitions)
        metrics.add_dns_counts(self.responder.count_by_name)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it listens, ports as bound (useful with port 0)."""
        return self._server.addresses if self._server else []

    def start(self) -> None:
        self._stopping.clear()
        self.refresh()
        self._server = self._open(self._config)
        self._server.start()
        self._thread = start_thread("dns-refresh", self._follow)
        logger.info("DNS answering for %s on %s", self._config.zone.name, _show(self._server.addresses))

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reconfigure(self, config: Config) -> None:
        """Take a new config; reopen the sockets only when the listen settings changed."""
        old, self._config = self._config, config
        self.refresh()
        if self._server is not None and old.dns != config.dns:
            # An address cannot be bound twice, so close first: a short gap, only when
            # the dns settings themselves change.
            logger.info("dns settings changed: reopening on %s", ", ".join(config.dns.listen))
            self._server.stop()
            self._server = self._open(config)
            self._server.start()

    def refresh(self) -> None:
        """Serve the engine's current table if it differs from what is served."""
        data = self._current()
        before = self.responder.data
        if self.responder.update(data) and data.serial != before.serial:
            logger.debug("DNS serving serial %d", data.serial)

    def _current(self) -> ZoneData:
        engine = self.engine
        return zone_data(engine.config, engine.table, engine.check_state)

    def _open(self, config: Config) -> DnsServer:
        pairs = []
        try:
            for host, port in config.dns.addresses():
                pairs.append(open_pair(host, port))
        except BaseException:
            for udp, tcp in pairs:
                udp.close()
                tcp.close()
            raise
        return DnsServer(
            pairs,
            self.responder.respond,
            tcp_idle_timeout=config.dns.tcp_idle_timeout,
            tcp_max_connections=config.dns.tcp_max_connections,
        )

    def _on_transitions(self, transitions: list[Transition]) -> None:
        self._changed.set()  # called from a poll thread: only flag, the refresh thread works

    def _follow(self) -> None:
        while not self._stopping.is_set():
            self._changed.wait(REFRESH_EVERY)
            self._changed.clear()
            if not self._stopping.is_set():
                self.refresh()


def _show(addresses: list[tuple[str, int]]) -> str:
    return ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in addresses)
