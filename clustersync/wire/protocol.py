"""Framing and authentication of clustersync messages over TCP.

A connection starts with the client's hello (magic + 16 random bytes), answered by the
server's (magic + 16 random bytes). The client speaks first so that one port can also
answer HTTP health checks: the server tells "GET " from the magic. Both derive a session
key, HMAC-SHA256(secret, both nonces), so nothing
recorded from one connection is valid on another (replay protection that does not depend
on clocks, which may be off: measuring that is part of the session). Every message is then
one or more frames: a 4-byte word (payload length, top bit set when more frames of the same
message follow), a 32-byte HMAC of (direction, sequence number, word) -- checked before the
body is read, so nobody without the secret makes us read a large body --, a 32-byte HMAC of
(direction, sequence number, payload) and the payload: a piece of the message's JSON, which
carries the sender's timestamp. The sequence number stops replay and reordering inside a
connection. A frame above max_message is refused before it is read; a message larger than a
frame (a row of tens of MiB) is cut into frames of at most FRAME bytes and put together by
the receiver, up to MAX_ASSEMBLED. Each frame must arrive whole within the socket's timeout
(a deadline for the frame, not for each read), so a peer trickling bytes cannot hold us.

Messages are written by orjson and read by codec.loads (orjson too, when its answer is the json
module's): a batch of rows costs a fraction of the json module's time. What orjson would write
differently (NaN and infinities, which it writes as null) or refuses (integers beyond 64 bits,
keys that are not strings, lone surrogates) is written by the json module, as before.
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

import orjson

from ..core.codec import loads, wild_float
from ..core.errors import ProtocolError, RemoteError

MAGIC = b"CS3"  # CS1 had the server speak first; CS2 had one MAC after the body
NONCE = 16
MAC = 32
FRAME = 1 << 20  # largest payload piece sent in one frame (or max_message, if smaller)
MAX_ASSEMBLED = 1 << 31  # largest message put together from frames (SQLite's rows stay below 1 GB)
MORE = 1 << 31  # in the length word: more frames of this message follow
_LENGTH = struct.Struct(">I")
_SEQ = struct.Struct(">Q")
_NO_MAC = bytes(MAC)
_HEAD = _LENGTH.size + 2 * MAC
_UNSIGNED_LIMIT = 65536  # an unsigned error is read only when this small

Message = dict[str, Any]
# Dataclasses, datetimes and subclasses, which orjson would write its own way, make it raise
# (no default given): the json module then writes the message, or raises, as it always did.
# (Enums and UUIDs orjson writes as their values; no message holds them.)
_ORJSON = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


def encode_message(message: Message) -> bytes:
    """The message as compact JSON, the value the json module writes (in orjson when it can)."""
    try:
        payload = orjson.dumps(message, option=_ORJSON)
    except TypeError:  # orjson.JSONEncodeError too
        payload = b""
    if not payload or (b"null" in payload and wild_float(message)):  # orjson writes NaN as null
        payload = json.dumps(message, separators=(",", ":")).encode()
    return payload


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


def _recv_exact(sock: socket.socket, size: int, deadline: float | None = None) -> bytes:
    """Read exactly size bytes; all of them before the deadline (monotonic), if one is given."""
    chunks = []
    timeout = sock.gettimeout()
    while size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out (the peer sends too slowly)")
            sock.settimeout(left if timeout is None else min(left, timeout))
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed by the peer")
        chunks.append(chunk)
        size -= len(chunk)
    if deadline is not None:
        sock.settimeout(timeout)
    return b"".join(chunks)


def deadline_of(sock: socket.socket) -> float | None:
    """When a frame started now must be complete: now + the socket's timeout."""
    timeout = sock.gettimeout()
    return None if timeout is None else time.monotonic() + timeout


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
        # Extra seconds the peer may take, set by the sender of a large batch: the peer applies
        # it (seconds for tens of MiB) before it reads on or answers.
        self.patience = 0.0

    @classmethod
    def connect(
        cls, sock: socket.socket, secret: bytes, max_message: int, clock: Callable[[], float] = time.time
    ) -> Channel:
        """The client side: send our nonce, read the server's."""
        nonce_c = secrets.token_bytes(NONCE)
        sock.sendall(MAGIC + nonce_c)
        hello = _recv_exact(sock, len(MAGIC) + NONCE, deadline_of(sock))
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
        deadline: float | None = None,
    ) -> Channel:
        """The server side: read the client's nonce (after `head`, already read), send ours."""
        hello = head + _recv_exact(sock, max(0, len(MAGIC) - len(head)), deadline)
        if not hello.startswith(MAGIC):
            raise ProtocolError("not a clustersync client (bad greeting)")
        hello += _recv_exact(sock, len(MAGIC) + NONCE - len(hello), deadline)
        nonce_s = secrets.token_bytes(NONCE)
        sock.sendall(MAGIC + nonce_s)
        return cls(sock, _session_key(secret, nonce_s, hello[len(MAGIC) :]), True, max_message, clock)

    def _mac(self, direction: bytes, seq: int, payload: bytes) -> bytes:
        return hmac.new(self._key, direction + _SEQ.pack(seq) + payload, hashlib.sha256).digest()

    def _head_mac(self, direction: bytes, seq: int, word: bytes) -> bytes:
        return hmac.new(self._key, b"H" + direction + _SEQ.pack(seq) + word, hashlib.sha256).digest()

    def send(self, message: Message) -> None:
        """Send one message, stamped with our clock and signed, in frames of at most FRAME bytes."""
        payload = encode_message({**message, "ts": self.clock()})
        piece = max(1, min(FRAME, self.max_message - _HEAD))
        view = memoryview(payload)
        for start in range(0, max(len(payload), 1), piece):
            part = bytes(view[start : start + piece])
            word = _LENGTH.pack(len(part) | (MORE if start + piece < len(payload) else 0))
            seq = self._out_seq
            self._out_seq += 1
            head = word + self._head_mac(self._out_dir, seq, word) + self._mac(self._out_dir, seq, part)
            self._sendall(head + part if len(part) < 65536 else head)
            if len(part) >= 65536:
                self._sendall(part)

    def _sendall(self, data: bytes) -> None:
        timeout = self.sock.gettimeout()
        if not self.patience or timeout is None:
            self.sock.sendall(data)
            return
        self.sock.settimeout(timeout + self.patience)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.settimeout(timeout)

    def send_error(self, error: str) -> None:
        """Tell the peer why we stop (unsigned when the peer could not be authenticated)."""
        payload = json.dumps({"type": "error", "error": error}).encode()[: _UNSIGNED_LIMIT - 1]
        with contextlib.suppress(OSError):
            self.sock.sendall(_LENGTH.pack(len(payload)) + _NO_MAC + _NO_MAC + payload)

    def _frame(self) -> tuple[bytes, bool]:
        """One frame's payload and whether more frames of the message follow."""
        deadline = deadline_of(self.sock)
        if deadline is not None:
            deadline += self.patience
        head = _recv_exact(self.sock, _HEAD, deadline)
        word, head_mac, body_mac = head[:4], head[4 : 4 + MAC], head[4 + MAC :]
        (value,) = _LENGTH.unpack(word)
        length, more = value & ~MORE, bool(value & MORE)
        if not hmac.compare_digest(head_mac, self._head_mac(self._in_dir, self._in_seq, word)):
            if head_mac == _NO_MAC and length < _UNSIGNED_LIMIT and not more:
                _raise_remote(_recv_exact(self.sock, length, deadline))
            raise ProtocolError(
                "authentication failed: wrong cluster secret, or a replayed or altered message"
            )
        if length > self.max_message:
            raise ProtocolError(f"frame of {length} bytes refused (limit {self.max_message})")
        payload = _recv_exact(self.sock, length, deadline)
        if not hmac.compare_digest(body_mac, self._mac(self._in_dir, self._in_seq, payload)):
            raise ProtocolError("authentication failed: an altered message")
        self._in_seq += 1
        return payload, more

    def recv(self) -> Message:
        """Receive one message; raise ProtocolError if oversized, forged, replayed or malformed."""
        payload, more = self._frame()
        if more:
            parts, size = [payload], len(payload)
            while more:
                payload, more = self._frame()
                size += len(payload)
                if size > MAX_ASSEMBLED:
                    raise ProtocolError(f"message above {MAX_ASSEMBLED} bytes refused")
                parts.append(payload)
            payload = b"".join(parts)
        if len(payload) == 0:
            raise ProtocolError("message too short")
        try:
            message = loads(payload)
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
