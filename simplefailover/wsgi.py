"""The one way to serve a WSGI app (dashboard, demo application): waitress, stopped cleanly."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from waitress import wasyncore
from waitress.server import create_server
from waitress.trigger import trigger

from .errors import BindError, bind_fix
from .service import start_thread

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger(__name__)

# How long the serving loop may sleep before it notices a stop request that
# could not wake it (normally the trigger wakes it at once).
LOOP_TIMEOUT = 0.5


class WsgiServer:
    """One waitress server on one listen address, run by our own loop so it stops cleanly."""

    def __init__(
        self, app: WSGIApplication, listen: str, threads: int = 4, what: str = "dashboard.listen"
    ) -> None:
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
            port = int(listen.rsplit(":", 1)[-1]) if listen.rsplit(":", 1)[-1].isdigit() else 0
            why = bind_fix(exc, port, what) if isinstance(exc, OSError) else str(exc)
            raise BindError(f"{what} {listen}: cannot listen: {why}") from exc

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually bound (port 0 resolved)."""
        server = self._server
        if hasattr(server, "effective_listen"):
            return [(str(host), int(port)) for host, port in server.effective_listen]
        return [(str(server.effective_host), int(server.effective_port))]

    def start(self) -> None:
        self._thread = start_thread(f"wsgi {self.listen}", self._loop)

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
                logger.warning("web server on %s did not stop within 10 s", self.listen)
        else:
            wasyncore.close_all(self._map, ignore_all=True)
            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
