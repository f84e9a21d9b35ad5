"""The administrator's login: password file, sessions and the check every action passes (SF-11).

The file named by `dashboard.admin_password_file` holds two lines written by
`simplefailover admin-password`: the password's scrypt hash and the API token's SHA-256.
Reading stays open to the local host; every state-changing action (maintenance, pins,
the HA page) needs a session cookie from /login (HttpOnly, SameSite=Strict) or, for
scripts, `Authorization: Bearer TOKEN`. Without the file, actions are off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SESSION_COOKIE = "sf_admin"
SESSION_SECONDS = 8 * 3600
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
ENABLE_HINT = (
    "dashboard actions are off: set dashboard.admin_password_file and run"
    " `simplefailover admin-password -c CONFIG` to turn them on"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, salt: bytes | None = None) -> str:
    """scrypt$N$r$p$salt$hash (base64), as the password file keeps it."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def password_ok(line: str, password: str) -> bool:
    """Whether password matches a hash line (a malformed line matches nothing)."""
    try:
        kind, n, r, p, salt, digest = line.strip().split("$")
        if kind != "scrypt":
            return False
        again = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
        return hmac.compare_digest(again, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def token_line(token: str) -> str:
    return "token-sha256$" + hashlib.sha256(token.encode()).hexdigest()


def token_ok(line: str, token: str) -> bool:
    return hmac.compare_digest(line.strip().encode(), token_line(token).encode("utf-8", "replace"))


def admin_file_text(password: str, token: str) -> str:
    return f"{hash_password(password)}\n{token_line(token)}\n"


@dataclass
class Admin:
    """The login state of one dashboard: the password file (read on each login) and the sessions."""

    sessions: dict[str, float] = field(default_factory=dict)  # session id -> expiry (monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def lines(path: Path | None) -> list[str] | None:
        """The file's lines; None when actions are off (no file configured or readable)."""
        if path is None:
            return None
        try:
            return path.read_text().splitlines()
        except OSError:
            return None

    def log_in(self, path: Path | None, password: str) -> str | None:
        """A new session id when the password is right."""
        lines = self.lines(path)
        if not lines or not password_ok(lines[0], password):
            return None
        session = secrets.token_urlsafe(32)
        with self.lock:
            now = time.monotonic()
            self.sessions = {s: t for s, t in self.sessions.items() if t > now}
            self.sessions[session] = now + SESSION_SECONDS
        return session

    def log_out(self, session: str | None) -> None:
        with self.lock:
            self.sessions.pop(session or "", None)

    def session_ok(self, session: str | None) -> bool:
        with self.lock:
            expiry = self.sessions.get(session or "")
        return expiry is not None and expiry > time.monotonic()

    def bearer_ok(self, path: Path | None, header: str | None) -> bool:
        lines = self.lines(path)
        if not lines or len(lines) < 2 or not header or not header.startswith("Bearer "):
            return False
        return token_ok(lines[1], header.removeprefix("Bearer ").strip())
