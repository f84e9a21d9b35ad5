"""The dashboard as a service: the Flask app served by waitress on dashboard.listen."""

from __future__ import annotations

import logging

from ..config import Config, Dashboard
from ..control.service import ControlService
from ..engine import Engine
from ..errors import BindError
from ..history import HistoryService
from ..metrics import Metrics
from ..wsgi import WsgiServer
from . import create_app

logger = logging.getLogger(__name__)


class DashboardService:
    """Serve the dashboard on config.dashboard.listen (loopback only) with waitress."""

    name = "dashboard"

    def __init__(
        self,
        config: Config,
        engine: Engine,
        metrics: Metrics,
        history: HistoryService | None = None,
        threads: int = 4,
        control: ControlService | None = None,
    ) -> None:
        self.app = create_app(engine, metrics, history=history, control=control)
        self._settings: Dashboard = config.dashboard
        self._threads = threads
        self._server: WsgiServer | None = None
        self._running = False

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it listens now; empty when stopped or disabled."""
        return self._server.addresses if self._server else []

    def start(self) -> None:
        self._running = True
        if self._settings.enabled:
            self._serve(self._open(self._settings.listen))

    def stop(self) -> None:
        self._running = False
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            logger.info("dashboard stopped")

    def reconfigure(self, config: Config) -> None:
        """Move to a new listen address, or turn on or off; the page itself follows the engine."""
        new, old = config.dashboard, self._settings
        self._settings = new
        if not self._running or (new.listen, new.enabled) == (old.listen, old.enabled):
            return
        if not new.enabled:
            self.stop()
            self._running = True
            return
        try:
            # Bind the new address before closing the old one: a bad address keeps the old.
            server = self._open(new.listen)
        except BindError as exc:
            self._settings = old
            where = old.listen if old.enabled else "(off)"
            raise BindError(f"{exc}; the dashboard stays on {where}") from exc  # the reload reports it
        if self._server is not None:
            self._server.stop()
        self._serve(server)

    def _open(self, listen: str) -> WsgiServer:
        return WsgiServer(self.app, listen, self._threads)

    def _serve(self, server: WsgiServer) -> None:
        server.start()
        self._server = server
        for host, port in server.addresses:
            shown = f"[{host}]" if ":" in host else host
            logger.info("dashboard on http://%s:%d/", shown, port)
