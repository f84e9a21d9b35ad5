"""Signed messages between instances: HMAC-SHA256 with the cluster secret, replay guard.

An envelope is `MAGIC | timestamp | nonce | sender | body | mac`, the MAC covering
everything before it. A message is refused when its MAC is wrong, its timestamp is more
than `window` seconds from our clock, or its (sender, nonce) was already seen within the
window. Time comes in as an argument, so every rule is tested without a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field

MAGIC = b"SFP1"
MAC_SIZE = 32
NONCE_SIZE = 16
WINDOW = 30.0  # seconds a message is accepted around our clock
MAX_MESSAGE = 65000  # bytes: one UDP datagram
_HEAD = struct.Struct("!4sd16sB")  # magic, timestamp, nonce, sender length


class AuthError(ValueError):
    """A message that must be ignored: says why, never the secret."""


def seal(secret: bytes, sender: str, body: bytes, now: float, nonce: bytes | None = None) -> bytes:
    """Sign body as sent by sender at now."""
    name = sender.encode()
    if len(name) > 255:
        raise ValueError(f"sender id {sender[:40]!r}... is longer than 255 bytes")
    signed = _HEAD.pack(MAGIC, now, nonce or os.urandom(NONCE_SIZE), len(name)) + name + body
    if len(signed) + MAC_SIZE > MAX_MESSAGE:
        raise ValueError(f"message of {len(signed) + MAC_SIZE} bytes is over the {MAX_MESSAGE}-byte limit")
    return signed + hmac.new(secret, signed, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Opened:
    """A message that passed every check."""

    sender: str
    sent_at: float
    body: bytes


@dataclass
class ReplayGuard:
    """Remembers recent (sender, nonce) pairs; forgets them once their timestamp is out of the window."""

    window: float = WINDOW
    limit: int = 10000  # nonces kept per sender: a cap, since each costs memory
    seen: dict[str, dict[bytes, float]] = field(default_factory=dict)

    def admit(self, sender: str, nonce: bytes, sent_at: float, now: float) -> bool:
        """True the first time a (sender, nonce) is offered within the window."""
        nonces = self.seen.setdefault(sender, {})
        if nonce in nonces:
            return False
        if len(nonces) >= 64:  # prune now and then, not on every message
            for old, at in list(nonces.items()):
                if abs(now - at) > self.window:
                    del nonces[old]
            if len(nonces) >= self.limit:
                return False  # flooded with fresh, valid messages: refuse rather than forget
        nonces[nonce] = sent_at
        return True


def open_sealed(secret: bytes, data: bytes, now: float, guard: ReplayGuard, window: float = WINDOW) -> Opened:
    """Check an envelope; return sender, time and body, or raise AuthError saying why."""
    if len(data) > MAX_MESSAGE:
        raise AuthError(f"message of {len(data)} bytes is over the {MAX_MESSAGE}-byte limit")
    if len(data) < _HEAD.size + MAC_SIZE:
        raise AuthError(f"message of {len(data)} bytes is too short")
    magic, sent_at, nonce, name_length = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise AuthError("not a peer message (bad magic)")
    signed, mac = data[:-MAC_SIZE], data[-MAC_SIZE:]
    if not hmac.compare_digest(mac, hmac.new(secret, signed, hashlib.sha256).digest()):
        raise AuthError("bad signature (wrong secret or altered message)")
    name_end = _HEAD.size + name_length
    if name_end > len(signed):
        raise AuthError("sender id runs past the end of the message")
    try:
        sender = signed[_HEAD.size : name_end].decode()
    except UnicodeDecodeError:
        raise AuthError("sender id is not UTF-8") from None
    if not abs(now - sent_at) <= window:  # also refuses NaN
        raise AuthError(f"from {sender}: timestamp {now - sent_at:+.1f} s from our clock, over {window:g} s")
    if not guard.admit(sender, nonce, sent_at, now):
        raise AuthError(f"from {sender}: replayed message")
    return Opened(sender, sent_at, signed[name_end:])
