"""A local SMTP server for the demo that prints every mail it receives, so alerts are visible."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller

logger = logging.getLogger(__name__)


class _Printer:
    def __init__(self, show: Callable[[str], None]) -> None:
        self._show = show

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self._show(f"[mail to {', '.join(envelope.rcpt_tos)}] {message['Subject']}")
        return "250 OK"


class MailSink:
    """Accept mail on host:port and hand each subject line to `show`."""

    name = "demo mail sink"

    def __init__(self, host: str, port: int, show: Callable[[str], None] = print) -> None:
        self._controller = Controller(_Printer(show), hostname=host, port=port)
        self.address = f"{host}:{port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
