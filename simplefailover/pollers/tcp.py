"""The telnet (alias tcp) poller: connect, optionally send bytes and wait for a banner."""

from __future__ import annotations

import errno
import socket
import time

from ..config import Node, TcpPolling
from .result import PollResult

MAX_BANNER = 64 * 1024


class TcpPoller:
    """Checks one telnet/tcp polling against any node; never raises for a down node."""

    def __init__(self, polling: TcpPolling) -> None:
        self.polling = polling

    def check(self, node: Node) -> PollResult:
        """Connect to node on the polling's port and return the verdict."""
        start = time.monotonic()
        error = self._check(node, start + self.polling.timeout)
        return PollResult(not error, time.monotonic() - start, error, time.time())

    def _check(self, node: Node, deadline: float) -> str:
        polling = self.polling
        address = (str(node.address), polling.port)
        family = socket.AF_INET6 if node.address.version == 6 else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(polling.timeout)
                try:
                    sock.connect(address)
                except TimeoutError:
                    return f"connect timed out after {polling.timeout:g}s"
                if polling.send:
                    sock.sendall(polling.send.encode())
                if not polling.expect:
                    return ""
                return self._await_banner(sock, deadline)
        except ConnectionRefusedError:
            return "connection refused"
        except OSError as exc:
            return os_error(exc)

    def _await_banner(self, sock: socket.socket, deadline: float) -> str:
        expect = self.polling.expect.encode()
        received = b""
        while expect not in received:
            left = deadline - time.monotonic()
            if left <= 0 or len(received) >= MAX_BANNER:
                return f"expected {self.polling.expect!r} not received ({_preview(received)})"
            sock.settimeout(left)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                return (
                    f"expected {self.polling.expect!r} not received within "
                    f"{self.polling.timeout:g}s ({_preview(received)})"
                )
            if not chunk:
                return f"connection closed before {self.polling.expect!r} ({_preview(received)})"
            received += chunk
        return ""


def _preview(data: bytes) -> str:
    if not data:
        return "got nothing"
    return f"got {data[:60].decode('utf-8', 'replace')!r}"


def os_error(exc: OSError) -> str:
    """An OS error as people read it, with its errno name."""
    name = errno.errorcode.get(exc.errno or 0, "")
    return f"{exc.strerror or exc} ({name})" if name else str(exc)
