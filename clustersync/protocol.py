"""Framing and authentication of clustersync messages over TCP.

A connection starts with the client's hello (magic + 16 random bytes), answered by the
server's (magic + 16 random bytes). The client speaks first so that one port can also
answer HTTP health checks: the server tells "GET " from the magic. Both derive a session
key, HMAC-SHA256(secret, both nonces), so nothing
recorded from one connection is valid on another (replay protection that does not depend
on clocks, which may be off: measuring that is part of the session). Every message is then
a frame: 4-byte length, 32-byte HMAC-SHA256 of (direction, sequence number, payload), and a
JSON payload that carries the sender's timestamp; the sequence number stops replay and
reordering inside a connection. A frame above max_message is refused before it is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ProtocolError, RemoteError

MAGIC = b"CS2"  # CS1 had the server speak first
NONCE = 16
MAC = 32
_LENGTH = struct.Struct(">I")
_SEQ = struct.Struct(">Q")
_NO_MAC = bytes(MAC)

Message = dict[str, Any]


def load_secret(path: Path) -> bytes:
    """Read the cluster secret; raise ProtocolError saying where when it is missing or weak."""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ProtocolError(f"cluster secret {path}: cannot read: {exc.strerror or exc}") from exc
    if len(secret) < 16:
        raise ProtocolError(f"cluster secret {path}: too short (at least 16 characters)")
    return secret


def create_secret(path: Path) -> bool:
    """Write a new random secret readable by the owner only, unless one exists; True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32) + "\n")
    return True


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed by the peer")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class Channel:
    """An authenticated, ordered message stream over one TCP connection."""

    def __init__(
        self,
        sock: socket.socket,
        key: bytes,
        server: bool,
        max_message: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sock = sock
        self._key = key
        self._out_dir, self._in_dir = (b"S", b"C") if server else (b"C", b"S")
        self._out_seq = 0
        self._in_seq = 0
        self.max_message = max_message
        self.clock = clock

    @classmethod
    def connect(
        cls, sock: socket.socket, secret: bytes, max_message: int, clock: Callable[[], float] = time.time
    ) -> Channel:
        """The client side: send our nonce, read the server's."""
        nonce_c = secrets.token_bytes(NONCE)
        sock.sendall(MAGIC + nonce_c)
        hello = _recv_exact(sock, len(MAGIC) + NONCE)
        if not hello.startswith(MAGIC):
            raise ProtocolError("the peer is not a clustersync server (bad greeting)")
        return cls(sock, _session_key(secret, hello[len(MAGIC) :], nonce_c), False, max_message, clock)

    @classmethod
    def accept(
        cls,
        sock: socket.socket,
        secret: bytes,
        max_message: int,
        clock: Callable[[], float] = time.time,
        head: bytes = b"",
    ) -> Channel:
        """The server side: read the client's nonce (after `head`, already read), send ours."""
        hello = head + _recv_exact(sock, max(0, len(MAGIC) - len(head)))
        if not hello.startswith(MAGIC):
            raise ProtocolError("not a clustersync client (bad greeting)")
        hello += _recv_exact(sock, len(MAGIC) + NONCE - len(hello))
        nonce_s = secrets.token_bytes(NONCE)
        sock.sendall(MAGIC + nonce_s)
        return cls(sock, _session_key(secret, nonce_s, hello[len(MAGIC) :]), True, max_message, clock)

    def _mac(self, direction: bytes, seq: int, payload: bytes) -> bytes:
        return hmac.new(self._key, direction + _SEQ.pack(seq) + payload, hashlib.sha256).digest()

    def send(self, message: Message) -> None:
        """Send one message, stamped with our clock and signed."""
        payload = json.dumps({**message, "ts": self.clock()}, separators=(",", ":")).encode()
        mac = self._mac(self._out_dir, self._out_seq, payload)
        self._out_seq += 1
        self.sock.sendall(_LENGTH.pack(MAC + len(payload)) + mac + payload)

    def send_error(self, error: str) -> None:
        """Tell the peer why we stop (unsigned when the peer could not be authenticated)."""
        payload = json.dumps({"type": "error", "error": error}).encode()
        with contextlib.suppress(OSError):
            self.sock.sendall(_LENGTH.pack(MAC + len(payload)) + _NO_MAC + payload)

    def recv(self) -> Message:
        """Receive one message; raise ProtocolError if oversized, forged, replayed or malformed."""
        (length,) = _LENGTH.unpack(_recv_exact(self.sock, _LENGTH.size))
        if length > self.max_message:
            raise ProtocolError(f"message of {length} bytes refused (limit {self.max_message})")
        if length <= MAC:
            raise ProtocolError("message too short")
        frame = _recv_exact(self.sock, length)
        mac, payload = frame[:MAC], frame[MAC:]
        if not hmac.compare_digest(mac, self._mac(self._in_dir, self._in_seq, payload)):
            if mac == _NO_MAC:
                _raise_remote(payload)
            raise ProtocolError(
                "authentication failed: wrong cluster secret, or a replayed or altered message"
            )
        self._in_seq += 1
        try:
            message = json.loads(payload)
        except ValueError as exc:
            raise ProtocolError(f"message is not JSON: {exc}") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError("message has no type")
        if message["type"] == "error":
            raise RemoteError(str(message.get("error")))
        if not isinstance(message.get("ts"), int | float):
            raise ProtocolError("message has no timestamp")
        return message

    def expect(self, *types: str) -> Message:
        """Receive a message of one of these types."""
        message = self.recv()
        if message["type"] not in types:
            raise ProtocolError(f"expected {' or '.join(types)}, got {message['type']!r}")
        return message


def _session_key(secret: bytes, nonce_s: bytes, nonce_c: bytes) -> bytes:
    return hmac.new(secret, b"clustersync-1" + nonce_s + nonce_c, hashlib.sha256).digest()


def _raise_remote(payload: bytes) -> None:
    try:
        message = json.loads(payload)
    except ValueError:
        message = None
    if isinstance(message, dict) and message.get("type") == "error":
        raise RemoteError(f"the peer refused: {message.get('error')}")
    raise ProtocolError("authentication failed: unsigned message")
