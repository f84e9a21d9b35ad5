"""One real SMTP server for tests (aiosmtpd on loopback) that keeps every mail it receives."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from .bind import free_port


class Inbox:
    """aiosmtpd handler keeping every mail, parsed (subjects unfolded)."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.mails.append(message)
        return "250 OK"

    def subjects(self, node: str | None = None) -> list[str]:
        """Subjects received so far, in order (only those a node sent, "[node] ...", when given)."""
        with self._lock:
            subjects = [str(m["Subject"]).strip() for m in self.mails]
        return [s for s in subjects if node is None or s.startswith(f"[{node}] ")]

    def matching(self, word: str) -> list[str]:
        """Subjects that contain word."""
        return [s for s in self.subjects() if word in s]


@contextmanager
def smtp_server(host: str, inbox: Inbox | None = None) -> Iterator[tuple[Inbox, int]]:
    """A running SMTP server on host and a free port: (its inbox, its port)."""
    box = inbox if inbox is not None else Inbox()
    port = free_port(host)
    controller = Controller(box, hostname=host, port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
