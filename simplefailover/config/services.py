"""What the running service offers: DNS (and its RFC 2136 update), the dashboard, the history."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from habase.configbase import Model as _Model
from habase.configbase import resolve_path as _resolve
from habase.hostport import IPAddress, check_ip_hostport, is_loopback, parse_hostport

from .zone import check_dns_name


class DnsUpdate(_Model):
    """Push the answers to an existing DNS server by RFC 2136 dynamic update, signed with TSIG."""

    server: IPAddress = Field(description="address of the primary DNS server that takes the updates")
    port: int = Field(53, ge=1, le=65535)
    zone: str | None = Field(None, description="zone to update; default: zone.name")
    key_name: str = Field(description="TSIG key name, as the server knows it")
    algorithm: Literal[
        "hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"
    ] = Field("hmac-sha256", description="TSIG algorithm")
    secret_env: str | None = Field(None, description="environment variable holding the base64 TSIG secret")
    secret_file: Path | None = Field(None, description="file holding the base64 TSIG secret")
    ttl: int | None = Field(None, ge=0, le=86400, description="TTL of the pushed records; default: zone.ttl")
    hostnames: list[str] | None = Field(
        None, description="names (from hostnames[].name) to push; default: every hostname"
    )
    transport: Literal["tcp", "udp"] = Field("tcp", description="how updates and checks reach the server")
    timeout: float = Field(5, gt=0, le=120, description="seconds to wait for the server")
    verify_interval: float | None = Field(
        None,
        gt=0,
        description="seconds between checks that the server still holds the answers; "
        "default: schedule.interval",
    )
    retry_delay: float = Field(1, gt=0, description="seconds before the first retry; doubles each time")
    retry_max_delay: float = Field(60, gt=0, description="longest wait between retries, seconds")
    alert_after: int = Field(
        1, ge=1, description="failed attempts in a row before the DNS update failure notification"
    )

    _resolve_secret_file = field_validator("secret_file")(_resolve)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_dns_name(value)

    @field_validator("key_name")
    @classmethod
    def _key_name(cls, value: str) -> str:
        return check_dns_name(value)

    @field_validator("hostnames")
    @classmethod
    def _hostnames(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [check_dns_name(name) for name in value]

    @model_validator(mode="after")
    def _one_secret(self) -> DnsUpdate:
        if bool(self.secret_env) == bool(self.secret_file):
            raise ValueError("set exactly one of secret_env and secret_file (the base64 TSIG secret)")
        return self

    def secret(self) -> str:
        """Read the base64 TSIG secret at use time; raise OSError/KeyError saying where."""
        if self.secret_env:
            value = os.environ.get(self.secret_env)
            if not value:
                raise KeyError(f"dns.update.secret_env: environment variable {self.secret_env} is not set")
            return value.strip()
        assert self.secret_file is not None
        return self.secret_file.read_text(encoding="ascii").strip()


class Dns(_Model):
    listen: list[str] = Field(default_factory=lambda: ["0.0.0.0:53", "[::]:53"])
    workers: int = Field(1, ge=1, le=64)
    tcp_idle_timeout: float = Field(10, gt=0, le=3600, description="seconds an idle TCP client is kept")
    tcp_max_connections: int = Field(100, ge=1, le=10000, description="TCP clients served at once")
    update: DnsUpdate | None = Field(
        None, description="push the answers to an existing DNS server (RFC 2136); see docs/dns-update.md"
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: list[str]) -> list[str]:
        return [check_ip_hostport(item, 53) for item in value]

    def addresses(self) -> list[tuple[str, int]]:
        """Listen addresses as (host, port)."""
        return [parse_hostport(item, 53) for item in self.listen]


class Dashboard(_Model):
    listen: str = "127.0.0.1:81"
    refresh: int = Field(60, ge=1)
    enabled: bool = True
    admin_password_file: Path | None = Field(
        None,
        description="file with the administrator's password hash (scrypt) and API token hash, written by"
        " `simplefailover admin-password`; without it the dashboard's actions (maintenance, pins, the HA"
        " page) are off",
    )

    _resolve_admin_password_file = field_validator("admin_password_file")(_resolve)

    @field_validator("listen")
    @classmethod
    def _loopback(cls, value: str) -> str:
        host, _ = parse_hostport(value, 81)
        if not is_loopback(host):
            raise ValueError(
                f"{host} is not a loopback address; the dashboard listens on the local host "
                "only (127.0.0.1, [::1] or localhost)"
            )
        return value

    def address(self) -> tuple[str, int]:
        """Listen address as (host, port)."""
        return parse_hostport(self.listen, 81)


class History(_Model):
    """The persisted history: events, audit trail, availability and latency (SF-6)."""

    enabled: bool = Field(True, description="record history on disk (off: only the last events in memory)")
    state_dir: Path | None = Field(
        None,
        description="directory of history.db; default: $STATE_DIRECTORY (systemd), /var/lib/simplefailover"
        " as root, else $XDG_STATE_HOME/simplefailover, in a file named after the config file's path",
    )
    max_age_days: float = Field(
        30, gt=0, le=3650, description="events and hourly figures older than this are deleted"
    )
    max_mb: float = Field(
        100,
        ge=2,
        le=100000,
        description="size limit of the database with its write-ahead log, MB; oldest go first",
    )
    flush_interval: float = Field(
        1, gt=0, le=60, description="seconds between batched writes (the polls only queue, never write)"
    )

    _resolve_state_dir = field_validator("state_dir")(_resolve)
