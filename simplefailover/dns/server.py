"""How bytes move: UDP and TCP sockets on every listen address, fed to a `Responder`.

UDP: one thread per socket in a tight blocking recvfrom/sendto loop (the GIL is
released while it waits). TCP (RFC 7766): one selector thread for every connection,
several queries per connection, pipelined, an idle timeout and a cap on connections.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from habase.service import start_thread

from ..errors import BindError, bind_fix
from . import batch

logger = logging.getLogger(__name__)

Respond = Callable[[bytes, bool], "bytes | None"]
OUT_LIMIT = 256 * 1024  # replies queued for a client that does not read: then it is dropped


def _bind_error(host: str, port: int, proto: str, exc: OSError) -> BindError:
    where = f"DNS cannot listen on {host}:{port}/{proto}"
    if exc.errno == errno.EADDRINUSE:
        return BindError(
            f"{where}: the port is already in use (another DNS server such as systemd-resolved, "
            "named or dnsmasq?); stop it or choose another address in dns.listen"
        )
    return BindError(f"{where}: {bind_fix(exc, port, 'dns.listen')}")


def open_socket(host: str, port: int, kind: socket.SocketKind, reuse_port: bool = False) -> socket.socket:
    """Open a UDP or TCP socket bound to (host, port); raise BindError saying how to fix a failure."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # [::] beside 0.0.0.0
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:
            with contextlib.suppress(OSError):  # absorb bursts; capped at net.core.rmem_max
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
    except OSError as exc:
        sock.close()
        proto = "tcp" if kind == socket.SOCK_STREAM else "udp"
        raise _bind_error(host, port, proto, exc) from exc
    return sock


def open_pair(host: str, port: int, reuse_port: bool = False) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same port (port 0: a free one, the same for both)."""
    for _attempt in range(20):
        udp = open_socket(host, port, socket.SOCK_DGRAM, reuse_port)
        try:
            tcp = open_socket(host, udp.getsockname()[1], socket.SOCK_STREAM, reuse_port)
        except BindError:
            udp.close()
            if port == 0:  # the free UDP port is taken on TCP: try another
                continue
            raise
        return udp, tcp
    raise BindError(f"DNS cannot find a port free on both UDP and TCP at {host}")


@dataclass(slots=True)
class _Conn:
    sock: socket.socket
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    last: float = field(default_factory=time.monotonic)
    writing: bool = False  # registered for EVENT_WRITE


class DnsServer:
    """Serve UDP and TCP on the given sockets until stop()."""

    def __init__(
        self,
        udp: list[socket.socket],
        tcp: list[socket.socket],
        respond: Respond,
        tcp_idle_timeout: float = 10.0,
        tcp_max_connections: int = 100,
        batched: bool = True,
    ) -> None:
        self.batched = batched  # recvmmsg/sendmmsg where the platform has them
        self._udp, self._tcp = udp, tcp
        self._respond = respond
        self.tcp_idle_timeout = tcp_idle_timeout
        self.tcp_max_connections = tcp_max_connections
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._conns: dict[socket.socket, _Conn] = {}

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) actually listened on (UDP; TCP uses the same ones)."""
        return [udp.getsockname()[:2] for udp in self._udp]

    def start(self) -> None:
        for udp in self._udp:
            host, port = udp.getsockname()[:2]
            serve = functools.partial(self._serve_udp, udp)
            self._threads.append(start_thread(f"dns-udp-{host}:{port}", serve))
        if self._tcp:
            self._threads.append(start_thread("dns-tcp", self._serve_tcp))

    def stop(self) -> None:
        self._stopping = True
        for udp in self._udp:
            # Wakes the thread blocked in recvfrom (Linux), though it reports ENOTCONN.
            with contextlib.suppress(OSError):
                udp.shutdown(socket.SHUT_RD)
        self._wake_w.send(b"x")
        for thread in self._threads:
            thread.join(5)
        for sock in self._udp + self._tcp:
            sock.close()
        self._wake_r.close()
        self._wake_w.close()
        self._selector.close()

    # ------------------------------------------------------------ UDP

    def _serve_udp(self, sock: socket.socket) -> None:
        if self.batched and batch.available():
            batch.BatchedUdp(sock).serve(self._respond, lambda: self._stopping)
            return
        respond = self._respond
        recvfrom, sendto = sock.recvfrom, sock.sendto
        while not self._stopping:
            try:
                data, peer = recvfrom(65535)
            except OSError:
                continue
            if not data or peer is None:
                continue
            reply = respond(data, True)
            if reply is not None:
                # try/except, not contextlib.suppress: this is the hot loop.
                try:  # noqa: SIM105
                    sendto(reply, peer)
                except OSError:  # e.g. an ICMP-unreachable peer: its problem, not ours
                    pass

    # ------------------------------------------------------------ TCP

    def _serve_tcp(self) -> None:
        sel = self._selector
        for tcp in self._tcp:
            tcp.setblocking(False)
            sel.register(tcp, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        next_sweep = time.monotonic() + 1
        while not self._stopping:
            for key, mask in sel.select(timeout=1.0):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                if key.data == "listen":
                    self._accept(sock)
                elif key.data == "conn":
                    if mask & selectors.EVENT_READ:
                        self._read(sock)
                    if mask & selectors.EVENT_WRITE and sock in self._conns:
                        self._flush(self._conns[sock])
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + 1
                for conn in [c for c in self._conns.values() if now - c.last > self.tcp_idle_timeout]:
                    self._close(conn.sock)
        for sock in list(self._conns):
            self._close(sock)

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        if len(self._conns) >= self.tcp_max_connections:
            sock.close()  # RFC 7766 6.2.2: a server may close connections it cannot keep
            return
        sock.setblocking(False)
        self._conns[sock] = _Conn(sock)
        self._selector.register(sock, selectors.EVENT_READ, "conn")

    def _read(self, sock: socket.socket) -> None:
        conn = self._conns.get(sock)
        if conn is None:
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(sock)
            return
        conn.last = time.monotonic()
        inbox = conn.inbox
        inbox += data
        # Several queries may come in one read: answer each (pipelining).
        while len(inbox) >= 2:
            size = int.from_bytes(inbox[:2], "big")
            if len(inbox) < 2 + size:
                break
            message = bytes(inbox[2 : 2 + size])
            del inbox[: 2 + size]
            reply = self._respond(message, False)
            if reply is not None:
                conn.outbox += len(reply).to_bytes(2, "big") + reply
        if len(conn.outbox) > OUT_LIMIT:
            self._close(sock)
            return
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        if conn.outbox:
            try:
                sent = conn.sock.send(conn.outbox)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._close(conn.sock)
                return
            del conn.outbox[:sent]
            conn.last = time.monotonic()
        if conn.writing != bool(conn.outbox):
            conn.writing = bool(conn.outbox)
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.writing else 0)
            self._selector.modify(conn.sock, events, "conn")

    def _close(self, sock: socket.socket) -> None:
        if self._conns.pop(sock, None) is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        sock.close()
