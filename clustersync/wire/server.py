"""TCP servers of one member: data sync (port above 52700) and control (join, remove, HTTP health).

Clients speak first, so the control port tells an HTTP request ("GET ", "HEAD") from the
clustersync greeting and hands it to the HTTP handler; everything else must authenticate.

Abuse: a connection not yet authenticated (greeting, nonces, first signed message) has one
deadline, `timeout`, for all of it, however slowly it trickles bytes, and holds no session
slot: slots are taken only once the first message's MAC checked out. At most UNSEEN such
connections wait at once; a new one pushes the oldest out, so a flood of silent or slow
clients cannot keep a member from being reached. After that, every frame has its own
deadline (protocol.Channel).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable

from habase.errors import bind_fix

from ..core.errors import ApplyError, ClusterSyncError, ProtocolError, Refused, RemoteError
from .protocol import Channel, Message

logger = logging.getLogger(__name__)

Handler = Callable[[Channel, Message, str], None]
HttpHandler = Callable[[socket.socket, bytes], None]  # the connection and the bytes already read
HTTP_METHODS = (b"GET ", b"HEAD")
UNSEEN = 64  # connections waiting to authenticate at once; a new one pushes the oldest out


class Server:
    """Accept connections on one address; authenticate; hand each request to a handler by type."""

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        secret: Callable[[], bytes],
        handlers: dict[str, Handler],
        max_message: int,
        timeout: float,
        clock: Callable[[], float],
        max_connections: int = 32,
        http: HttpHandler | None = None,
    ) -> None:
        self.name = name
        self.http = http
        self.handlers = handlers
        self.secret = secret
        self.max_message = max_message
        self.timeout = timeout
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max_connections)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(address)
        except OSError as exc:
            self.sock.close()
            key = "cluster.port" if name == "control" else "cluster.data_port"
            raise ClusterSyncError(
                f"cannot listen on {address[0]} port {address[1]} ({name}): {bind_fix(exc, address[1], key)}"
            ) from exc
        self.sock.listen(64)
        self.address = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unseen: dict[socket.socket, float] = {}  # not yet authenticated -> when accepted
        self._unseen_lock = threading.Lock()

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._serve, name=f"clustersync-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting connections."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self._thread:
            self._thread.join(5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            with self._unseen_lock:
                if len(self._unseen) >= UNSEEN:
                    oldest = min(self._unseen, key=self._unseen.__getitem__)
                    del self._unseen[oldest]
                    logger.warning("%s: too many unauthenticated connections: dropping the oldest", self.name)
                    with contextlib.suppress(OSError):
                        oldest.shutdown(socket.SHUT_RDWR)  # its thread fails its read and ends
                self._unseen[conn] = time.monotonic()
            threading.Thread(target=self._handle, args=(conn, peer[0]), daemon=True).start()

    def _seen(self, conn: socket.socket) -> bool:
        """No longer waiting to authenticate; False if it was pushed out meanwhile."""
        with self._unseen_lock:
            return self._unseen.pop(conn, None) is not None

    def _handle(self, conn: socket.socket, peer: str) -> None:
        ch: Channel | None = None
        slot = False
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see open_channel
            deadline = time.monotonic() + self.timeout  # for everything before authentication
            conn.settimeout(self.timeout)
            head = _recv_upto(conn, 4, deadline)
            if not head:
                logger.debug("%s: %s closed without a word (a port probe)", self.name, peer)
                return
            if self.http is not None and head in HTTP_METHODS:
                conn.settimeout(max(0.001, deadline - time.monotonic()))  # the request head, by then
                self.http(conn, head)
                return
            try:
                ch = Channel.accept(conn, self.secret(), self.max_message, self.clock, head, deadline)
            except ProtocolError as exc:
                # No session key yet: say why unsigned (a key is only needed to sign).
                Channel(conn, b"", True, self.max_message, self.clock).send_error(str(exc))
                _linger(conn)
                raise
            conn.settimeout(max(0.001, deadline - time.monotonic()))
            first = ch.recv()  # its MAC checked: the client knows the secret
            conn.settimeout(self.timeout)
            if not self._seen(conn):
                return
            slot = self._slots.acquire(blocking=False)
            if not slot:
                logger.warning("%s: too many sessions, refusing one from %s", self.name, peer)
                ch.send({"type": "refused", "reason": "busy", "detail": "too many sessions; try again soon"})
                return
            handler = self.handlers.get(first["type"])
            if handler is None:
                raise ProtocolError(f"unknown request {first['type']!r} on the {self.name} port")
            handler(ch, first, peer)
        except Refused as exc:
            logger.info("%s: refused %s: %s", self.name, peer, exc)
        except ApplyError as exc:
            logger.error("%s: changes from %s cannot be applied: %s", self.name, peer, exc)
            if ch is not None:
                ch.send_error(f"cannot apply the changes: {exc}")
        except (ProtocolError, ValueError) as exc:
            logger.warning("%s: bad request from %s: %s", self.name, peer, exc)
            if ch is not None:
                ch.send_error(str(exc))
                _linger(conn)
        except (OSError, RemoteError) as exc:
            logger.info("%s: connection from %s ended: %s", self.name, peer, exc)
        except Exception:
            logger.exception("%s: request from %s failed", self.name, peer)
            if ch is not None:
                ch.send_error("internal error")
        finally:
            self._seen(conn)
            conn.close()
            if slot:
                self._slots.release()


def _recv_upto(conn: socket.socket, size: int, deadline: float) -> bytes:
    """Read up to size bytes before the deadline, fewer only when the peer closes first."""
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out before the greeting")
        conn.settimeout(left)
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _linger(conn: socket.socket, limit: int = 1 << 20) -> None:
    """Read and drop what the peer still sends (bounded), so our error reaches it, not a reset."""
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(0.5)
        while limit > 0 and (chunk := conn.recv(65536)):
            limit -= len(chunk)
    except OSError:
        pass


def open_channel(
    address: tuple[str, int],
    secret: bytes,
    max_message: int,
    timeout: float,
    clock: Callable[[], float],
    opened: Callable[[socket.socket], None] = lambda sock: None,
) -> Channel:
    """Connect to a member's port and authenticate. `opened` is given the socket before it
    connects: a caller that must stop promptly shuts it down from another thread, which ends
    a connect or a read under way at once (instead of after `timeout`)."""
    sock = _connect(address, timeout, opened)
    try:
        # Messages are small and go back and forth, often two in a row from one side: without
        # this, Nagle's algorithm holds the second until the peer's delayed ACK (40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        return Channel.connect(sock, secret, max_message, clock)
    except BaseException:
        sock.close()
        raise


def _connect(
    address: tuple[str, int], timeout: float, opened: Callable[[socket.socket], None]
) -> socket.socket:
    """socket.create_connection, each socket handed to `opened` before it connects."""
    error: OSError | None = None
    for family, kind, proto, _, where in socket.getaddrinfo(*address, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            opened(sock)
            sock.settimeout(timeout)
            sock.connect(where)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"cannot resolve {address[0]}")
