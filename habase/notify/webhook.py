"""Webhooks: every notification the mailer sends, also POSTed to chat tools or any HTTP receiver.

Each webhook has its own SendQueue (the mailer's), so a slow or dead receiver delays
neither the mail nor another webhook, and nothing waits on the polling path. A
notification keeps one id through its retries (X-SimpleFailover-Id) so a receiver can
drop a copy it already has. With a secret, each POST is signed:

    X-SimpleFailover-Timestamp: <Unix seconds of this attempt>
    X-SimpleFailover-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests

from ..settings import Webhook
from .mailer import Mail, MailError
from .queue import RetryPolicy, SendQueue

SIGNATURE = "X-SimpleFailover-Signature"
TIMESTAMP = "X-SimpleFailover-Timestamp"
DELIVERY = "X-SimpleFailover-Id"
RETRYABLE = {408, 425, 429}  # 4xx worth another try; 5xx always are


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification on its way to a webhook: the same id and time through every retry."""

    subject: str
    body: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, mail: Mail) -> Notice:
        return cls(mail.subject, mail.body)


def payload(notice: Notice, fmt: str) -> dict[str, Any]:
    """The JSON document for one notification in the webhook's format."""
    if fmt == "slack":  # incoming webhook: mrkdwn text; &, < and > must be escaped
        text = notice.body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        subject = notice.subject.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return {"text": f"*{subject}*\n```\n{text.rstrip()}\n```"}
    if fmt == "teams":  # Workflows "post to a channel when a webhook request is received"
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": notice.subject, "weight": "Bolder", "wrap": True},
                {"type": "TextBlock", "text": notice.body.rstrip(), "wrap": True, "fontType": "Monospace"},
            ],
        }
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }
    return {
        "source": "simplefailover",
        "id": notice.id,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(notice.at)),
        "subject": notice.subject,
        "text": notice.body,
    }


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-SimpleFailover-Signature value for one POST."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs notices to one webhook; failures raise MailError (permanent for most 4xx)."""

    def __init__(self, hook: Webhook) -> None:
        self.hook = hook

    def _secret(self) -> bytes | None:
        name = self.hook.secret_env
        if not name:
            return None
        value = os.environ.get(name)
        if not value:  # never send unsigned what should be signed; retried after a fix and reload
            raise MailError(f"webhook {self.hook.where}: environment variable {name} (secret_env) is not set")
        return value.encode()

    @contextmanager
    def session(self) -> Iterator[Callable[[Notice], None]]:
        """One HTTP session (kept-alive connection) for a batch of notices."""
        with requests.Session() as http:
            http.trust_env = False  # only the configured proxy: what the service does must not vary by shell
            if self.hook.proxy:
                http.proxies = {"http": self.hook.proxy, "https": self.hook.proxy}
            yield lambda notice: self._post(http, notice)

    def _post(self, http: requests.Session, notice: Notice) -> None:
        hook = self.hook
        body = json.dumps(payload(notice, hook.format), ensure_ascii=False).encode()
        headers = {
            **hook.headers,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "simplefailover",
            DELIVERY: notice.id,
        }
        secret = self._secret()
        if secret is not None:
            stamp = str(int(time.time()))
            headers[TIMESTAMP] = stamp
            headers[SIGNATURE] = signature(secret, stamp, body)
        verify: bool | str = str(hook.ca_file) if hook.verify_tls and hook.ca_file else hook.verify_tls
        try:
            response = http.post(
                hook.url,
                data=body,
                headers=headers,
                timeout=hook.timeout,
                verify=verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise MailError(f"webhook {hook.where}: {type(exc).__name__}: {_short(exc)}") from exc
        status = response.status_code
        if 200 <= status <= 299:
            return
        reply = response.text[:200].strip()
        permanent = 300 <= status < 500 and status not in RETRYABLE
        raise MailError(f"webhook {hook.where} answered HTTP {status} {reply}".rstrip(), permanent)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


# (outcome, notice, detail) of one webhook, as the mail queue reports them
WebhookOutcome = Callable[[Webhook, str, Notice, str], None]


class WebhookQueue:
    """One webhook's sender and its own sending queue."""

    def __init__(self, hook: Webhook, policy: RetryPolicy, on_outcome: WebhookOutcome) -> None:
        self.hook = hook
        self._sender = WebhookSender(hook)
        self._on_outcome = on_outcome
        self._queue: SendQueue[Notice] = SendQueue(
            self._sender.session, policy, self._outcome, name=f"webhook {hook.where}"
        )

    def _outcome(self, outcome: str, notice: Notice, detail: str) -> None:
        self._on_outcome(self.hook, outcome, notice, detail)

    def put(self, notice: Notice) -> None:
        self._queue.put(notice)

    def retune(self, hook: Webhook, policy: RetryPolicy) -> None:
        """New format, headers or secret for the same URL; waiting notices use them."""
        self.hook = hook
        self._sender = WebhookSender(hook)
        self._queue.retune(self._sender.session, policy)

    def start(self) -> None:
        self._queue.start()

    def stop(self) -> None:
        self._queue.stop(timeout=self.hook.timeout + 1)

    @property
    def pending(self) -> int:
        return self._queue.pending

    def wait_idle(self, timeout: float) -> bool:
        return self._queue.wait_idle(timeout)
