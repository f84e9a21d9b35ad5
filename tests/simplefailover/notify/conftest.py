"""A real SMTP server (aiosmtpd) on loopback that collects what it receives."""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.bind import free_port

SMTP_HOST = "127.0.0.50"  # this suite's addresses: 127.0.0.50 to 127.0.0.59
USER, PASSWORD = "alerts", "s3cret-never-logged"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        return str(self.message.get_content()).replace("\r\n", "\n")  # CRLF on the wire


class Collector:
    """aiosmtpd handler: keeps every message, and who logged in."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.logins: list[str] = []
        self._cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._cond:
            assert isinstance(message, EmailMessage)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._cond.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Wait until at least `count` mails arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [r.subject for r in self.received]
                    raise AssertionError(f"expected {count} mails within {timeout} s, got {subjects}")
                self._cond.wait(left)
            return list(self.received)

    def subjects(self) -> list[str]:
        with self._cond:
            return [r.subject for r in self.received]


class Authenticator:
    """Accepts USER/PASSWORD only."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        ):
            self.collector.logins.append(USER)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    collector: Collector
    controller: Controller | None = None

    def start(self, **kwargs: Any) -> None:
        self.controller = Controller(self.collector, hostname=self.host, port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server, started."""
    server = SmtpServer(SMTP_HOST, free_port(SMTP_HOST), Collector())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_idle() -> Iterator[SmtpServer]:
    """An SMTP server on a reserved port, not started: the test starts it (mail server down, then back)."""
    server = SmtpServer(SMTP_HOST, free_port(SMTP_HOST), Collector())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_smtp_server(ca: trustme.CA) -> Iterator[SmtpServer]:
    """SMTP that requires STARTTLS, and a login over it (certificate for 127.0.0.50 from a throwaway CA)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(SMTP_HOST).configure_cert(context)
    collector = Collector()
    server = SmtpServer(SMTP_HOST, free_port(SMTP_HOST), collector)
    server.start(
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=Authenticator(collector),
    )
    yield server
    server.stop()
