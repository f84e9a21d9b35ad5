"""The one way to serve a WSGI app (dashboard, demo application): waitress, stopped cleanly.

Through waitress's public API: `create_server` binds (so a bad address fails in the caller,
with the reason), `server.run()` serves in a thread of ours until every socket of its map is
closed, and `server.close()` closes the listeners. The open connections are closed with them,
from the serving thread when it runs: the server's wake-up pipe (`server.trigger`, the one
every response already pulls) runs the close there, so no socket is closed under the loop.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

import waitress

from habase.service import start_thread

from .errors import BindError, bind_fix

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0  # seconds stop() waits for the serving thread


class WsgiServer:
    """One waitress server on one listen address, served by server.run() in its own thread."""

    def __init__(
        self, app: WSGIApplication, listen: str, threads: int = 4, what: str = "dashboard.listen"
    ) -> None:
        self.listen = listen
        # waitress's socket map: the listeners, their wake-up pipe and the open connections.
        self._map: dict[int, Any] = {}
        self._thread: threading.Thread | None = None
        try:
            self._server: Any = waitress.create_server(
                app,
                map=self._map,
                listen=listen,
                threads=threads,
                ident="simplefailover",
                expose_tracebacks=False,
                asyncore_use_poll=True,  # select() fails beyond 1024 descriptors
            )
        except (OSError, ValueError) as exc:
            self._close_sockets()  # what was opened before the bind failed
            port = int(listen.rsplit(":", 1)[-1]) if listen.rsplit(":", 1)[-1].isdigit() else 0
            why = bind_fix(exc, port, what) if isinstance(exc, OSError) else str(exc)
            raise BindError(f"{what} {listen}: cannot listen: {why}") from exc

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually bound (port 0 resolved)."""
        server = self._server
        if hasattr(server, "effective_listen"):  # several listeners (a name with several addresses)
            return [(str(host), int(port)) for host, port in server.effective_listen]
        return [(str(server.effective_host), int(server.effective_port))]

    def start(self) -> None:
        self._thread = start_thread(f"wsgi {self.listen}", self._serve)

    def _serve(self) -> None:
        try:
            self._server.run()  # returns once every socket of the map is closed
        finally:
            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def _close(self) -> None:
        """Close the listeners, then every connection still open."""
        with contextlib.suppress(OSError):
            self._server.close()
        self._close_sockets()

    def _close_sockets(self) -> None:
        for dispatcher in list(self._map.values()):
            with contextlib.suppress(OSError):
                dispatcher.close()

    def stop(self) -> None:
        thread = self._thread
        trigger = getattr(self._server, "trigger", None)  # one listener: its wake-up pipe
        if thread is None or not thread.is_alive():
            self._close()
            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            return
        if trigger is not None:
            trigger.pull_trigger(self._close)  # runs in the serving thread, which it wakes
        else:
            # Several listeners: waitress's close() closes them all and every connection; the
            # loop notices within its asyncore_loop_timeout (1 s).
            self._close()
        thread.join(timeout=STOP_TIMEOUT)
        if thread.is_alive():
            logger.warning("web server on %s did not stop within %g s", self.listen, STOP_TIMEOUT)
