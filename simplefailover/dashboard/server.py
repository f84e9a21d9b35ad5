"""The dashboard as a service: the Flask app served by waitress on dashboard.listen."""

from __future__ import annotations

import errno
import logging
import threading

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server
from waitress.trigger import trigger

from ..config import Config, Dashboard
from ..engine import Engine
from ..errors import BindError
from ..metrics import Metrics
from ..service import start_thread
from . import create_app

logger = logging.getLogger(__name__)

# How long the serving loop may sleep before it notices a stop request that
# could not wake it (normally the trigger wakes it at once).
LOOP_TIMEOUT = 0.5


class _Server:
    """One waitress server on one listen address, run by our own loop so it stops cleanly."""

    def __init__(self, app: Flask, listen: str, threads: int) -> None:
        self.listen = listen
        self._map: dict[int, wasyncore.dispatcher] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._server = create_server(
                app,
                listen=listen,
                threads=threads,
                map=self._map,
                ident="simplefailover",
                expose_tracebacks=False,
            )
        except (OSError, ValueError) as exc:
            wasyncore.close_all(self._map, ignore_all=True)
            hint = ""
            if isinstance(exc, OSError) and exc.errno == errno.EACCES:
                hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            elif isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
                hint = " (another program uses this port)"
            raise BindError(f"dashboard.listen {listen}: cannot listen: {exc}{hint}") from exc

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually bound (port 0 resolved)."""
        server = self._server
        if hasattr(server, "effective_listen"):
            return [(str(host), int(port)) for host, port in server.effective_listen]
        return [(str(server.effective_host), int(server.effective_port))]

    def start(self) -> None:
        self._thread = start_thread(f"dashboard {self.listen}", self._loop)

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=LOOP_TIMEOUT, map=self._map, use_poll=True, count=1)
        finally:
            # Closed from the loop's own thread: nothing else touches the sockets.
            wasyncore.close_all(self._map, ignore_all=True)
            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def stop(self) -> None:
        self._stopping.set()
        for item in list(self._map.values()):
            if isinstance(item, trigger):
                item.pull_trigger()
                break
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                logger.warning("dashboard on %s did not stop within 10 s", self.listen)
        else:
            wasyncore.close_all(self._map, ignore_all=True)
            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)


class DashboardService:
    """Serve the dashboard on config.dashboard.listen (loopback only) with waitress."""

    name = "dashboard"

    def __init__(self, config: Config, engine: Engine, metrics: Metrics, threads: int = 4) -> None:
        self.app = create_app(engine, metrics)
        self._settings: Dashboard = config.dashboard
        self._threads = threads
        self._server: _Server | None = None
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
            logger.error("%s; the dashboard stays on %s", exc, old.listen if old.enabled else "(off)")
            self._settings = old
            return
        if self._server is not None:
            self._server.stop()
        self._serve(server)

    def _open(self, listen: str) -> _Server:
        return _Server(self.app, listen, self._threads)

    def _serve(self, server: _Server) -> None:
        server.start()
        self._server = server
        for host, port in server.addresses:
            shown = f"[{host}]" if ":" in host else host
            logger.info("dashboard on http://%s:%d/", shown, port)
