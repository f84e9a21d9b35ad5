"""Move signed views between instances: one UDP socket, a receiving thread, non-blocking sends.

UDP because a view is small, sent again every heartbeat, and a lost one is replaced by
the next: nothing here ever waits on a peer, so a dead or slow peer cannot stall polling.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping

from habase.service import start_thread

from ..errors import BindError, bind_fix
from .auth import MAX_MESSAGE, AuthError, Opened, ReplayGuard, open_sealed, seal

logger = logging.getLogger(__name__)

Receiver = Callable[[Opened, float], None]  # (message, local receive time)
Counter = Callable[[str], None]  # outcome: sent | send_failed | accepted | rejected | dropped
WARN_EVERY = 60.0  # seconds between repeated warnings about the same source


class PeerExchange:
    """Send this instance's messages to every peer; hand authenticated ones received to `receive`."""

    def __init__(
        self,
        me: str,
        listen: tuple[str, int],
        peers: Mapping[str, tuple[str, int]],
        secret: bytes,
        receive: Receiver,
        count: Counter | None = None,
        drop: bool = False,
    ) -> None:
        self.me = me
        self._listen = listen
        self._peers = dict(peers)
        self._secret = secret
        self._receive = receive
        self._count = count or (lambda outcome: None)
        self._drop = drop  # peers.test_drop_traffic
        self._guard = ReplayGuard()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._warned: dict[str, float] = {}

    @property
    def address(self) -> tuple[str, int]:
        """Where it receives, port as bound (useful with port 0)."""
        if self._sock is None:
            return self._listen
        host, port = self._sock.getsockname()[:2]
        return host, port

    def start(self) -> None:
        host, port = self._listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise BindError(
                f"peers.listen {host}:{port}/udp: cannot bind: {bind_fix(exc, port, 'peers.listen')}"
            ) from exc
        sock.settimeout(0.5)  # so stop() is noticed
        self._sock = sock
        self._thread = start_thread("peers-receive", self._run)
        logger.info("peer messages on udp %s:%d, %d peer(s)", host, self.address[1], len(self._peers))

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        if sock is not None:
            sock.close()

    def send(self, body: bytes, to: str | None = None) -> None:
        """Sign body and send it to one peer, or to every peer; never blocks, never raises."""
        sock = self._sock
        if sock is None or self._drop:
            return
        try:
            data = seal(self._secret, self.me, body, time.time())
        except ValueError as exc:
            logger.error("peer message not sent: %s", exc)
            return
        for member, (host, port) in self._peers.items():
            if to is not None and member != to:
                continue
            address = (host, port)
            if sock.family == socket.AF_INET6 and ":" not in host:
                address = (f"::ffff:{host}", port)  # an IPv4 peer seen from a dual-stack socket
            try:
                sock.sendto(data, socket.MSG_DONTWAIT, address)
                self._count("sent")
            except OSError as exc:  # unreachable or a full buffer: the next heartbeat retries
                self._count("send_failed")
                self._warn(member, "cannot send to peer %s at %s: %s", member, address, exc)

    def _run(self) -> None:
        while True:
            sock = self._sock
            if sock is None:
                return
            try:
                data, source = sock.recvfrom(MAX_MESSAGE + 1)
            except TimeoutError:
                continue
            except OSError:
                if self._sock is None:
                    return
                raise
            now = time.time()
            if self._drop:
                self._count("dropped")
                continue
            try:
                message = open_sealed(self._secret, data, now, self._guard)
                if message.sender not in self._peers:
                    raise AuthError(f"from {message.sender}: not a configured peer")
            except AuthError as exc:
                self._count("rejected")
                self._warn(str(source[0]), "peer message from %s refused: %s", source[0], exc)
                continue
            self._count("accepted")
            try:
                self._receive(message, now)
            except Exception:  # one bad message must not stop the exchange
                logger.exception("peer message from %s could not be used", message.sender)

    def _warn(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._warned.get(key, -WARN_EVERY) >= WARN_EVERY:
            self._warned[key] = now
            logger.warning(message, *args)
        else:
            logger.debug(message, *args)
