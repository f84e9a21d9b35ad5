"""The config.yaml sections both products read: `monitoring` (mail, webhooks and their limits;
both notify through habase.notify) and `service` (how a service runs: the config watch).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from .configbase import Model as _Model
from .configbase import resolve_path as _resolve


class Smtp(_Model):
    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    sender: str = "simplefailover@localhost"
    timeout: float = Field(10, gt=0)
    verify_tls: bool = True
    ca_file: Path | None = Field(None, description="CA bundle to verify the SMTP server's certificate with")

    _resolve_password_file = field_validator("password_file", "ca_file")(_resolve)

    def password(self) -> str | None:
        """Read the SMTP password from its environment variable or file, at use time."""
        if self.password_env:
            return os.environ.get(self.password_env)
        if self.password_file:
            return self.password_file.read_text().strip()
        return None


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
SIGNED_HEADERS = ("x-simplefailover-signature", "x-simplefailover-timestamp", "x-simplefailover-id")


class Webhook(_Model):
    """A URL that receives every notification the mailer sends, as an HTTP POST (SPEC SF-14)."""

    url: str = Field(description="http:// or https:// URL the notifications are POSTed to")
    format: Literal["json", "slack", "teams"] = Field(
        "json", description="json: subject and text; slack: incoming webhook; teams: Workflows adaptive card"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers (e.g. a token)")
    secret_env: str | None = Field(
        None,
        description="environment variable holding the HMAC secret; when set every POST carries "
        "X-SimpleFailover-Signature: sha256=... (see docs/webhooks.md)",
    )
    timeout: float = Field(10, gt=0, le=300, description="seconds to wait for the receiver")
    proxy: str | None = Field(
        None,
        description="HTTP proxy to reach the receiver through (http://host:port); the environment's "
        "HTTPS_PROXY is not used",
    )
    verify_tls: bool = Field(True, description="verify the receiver's certificate")
    ca_file: Path | None = Field(None, description="CA bundle to verify the receiver's certificate with")

    _resolve_ca_file = field_validator("ca_file")(_resolve)

    @field_validator("url", "proxy")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (
            not re.match(r"^https?://[^/\s]+", value) or any(c.isspace() for c in value)
        ):
            raise ValueError("must be an http:// or https:// URL without spaces")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in SIGNED_HEADERS or name.lower() == "content-type":
                raise ValueError(f"{name!r} is set by SimpleFailover itself")
            if any(c in str(text) for c in "\r\n\0"):
                raise ValueError(f"header {name!r}: line breaks are not allowed in a value")
        return value

    @property
    def where(self) -> str:
        """The receiver for messages: scheme, host and port, never the path (it may hold a token)."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}"


class Monitoring(_Model):
    notifications: bool = True
    recipients: list[str] = Field(default_factory=list)
    smtp: Smtp = Field(default_factory=Smtp)
    storm_threshold: int = Field(5, ge=1, description="more transitions than this in the window")
    storm_window: float = Field(60, gt=0, description="seconds")
    retries: int = Field(10, ge=0, description="send retries before a mail is given up")
    retry_delay: float = Field(5, gt=0, description="seconds before the first retry; doubles each time")
    retry_max_delay: float = Field(300, gt=0, description="longest wait between retries, seconds")
    webhooks: list[Webhook] = Field(
        default_factory=list,
        description="URLs that receive every notification as well, with the same digest and retries",
    )
    cert_warning_days: float = Field(
        14,
        ge=0,
        description="one notification when a checked TLS certificate (https, sip over tls) has fewer "
        "days left (0: never)",
    )

    @field_validator("webhooks")
    @classmethod
    def _distinct_urls(cls, value: list[Webhook]) -> list[Webhook]:
        urls = [hook.url for hook in value]
        twice = sorted({url for url in urls if urls.count(url) > 1})
        if twice:
            raise ValueError(
                f"the same url twice: {', '.join(twice)} (each would get every notification twice)"
            )
        return value


class Runtime(_Model):
    pid_file: Path | None = Field(
        None, description="where `run` writes its pid for `reload`; default derived from the config path"
    )
    watch_config: float = Field(
        2,
        ge=0,
        le=3600,
        description="seconds between looks at the config file; a saved change reloads it as SIGHUP does"
        " (0: only on SIGHUP or `simplefailover reload`)",
    )

    _resolve_pid_file = field_validator("pid_file")(_resolve)
