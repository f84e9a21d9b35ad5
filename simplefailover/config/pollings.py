"""The `pollings` section of config.yaml: one model per method, and the union config.py uses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator

from habase.configbase import Model, resolve_path

NODE_PLACEHOLDERS = ("{address}", "{id}", "{polling}")  # what a command may take from the node


class HttpPolling(Model):
    id: str = Field(min_length=1)
    method: Literal["http"]
    url: str = Field(description="URL template; {address} is the node address, IPv6 in brackets")
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        None, description="status codes that count as OK; none means 200-399 (redirects not followed)"
    )
    expect_body: str | None = Field(None, description="substring the body must contain")
    host_header: str | None = Field(
        None, description="Host header (and TLS SNI) for sites bound to a virtual host"
    )
    verify_tls: bool = Field(True, description="verify the certificate of https URLs")
    ca_file: Path | None = Field(None, description="CA bundle to verify the node's certificate with")
    timeout: float = Field(5.0, gt=0, le=300)

    _resolve_ca_file = field_validator("ca_file")(resolve_path)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        try:
            value.format(address="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"bad template ({exc}); the only placeholder is {{address}}") from exc
        return value

    def status_ok(self, status: int) -> bool:
        """Whether an HTTP status counts as success."""
        if self.expect_status is None:
            return 200 <= status <= 399
        return status in self.expect_status


class TcpPolling(Model):
    id: str = Field(min_length=1)
    method: Literal["telnet", "tcp"]
    port: int = Field(ge=1, le=65535)
    send: str = Field("", description="bytes to send after connecting")
    expect: str = Field("", description="text that must arrive before the timeout")
    timeout: float = Field(3.0, gt=0, le=300)


def _status_ranges(items: list[int | str]) -> list[tuple[int, int]]:
    ranges = []
    for item in items:
        low, _, high = str(item).strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"{item!r}: expected a status code (404) or a range (200-299)")
        first, last = int(low), int(high or low)
        if not 200 <= first <= last <= 699:
            raise ValueError(f"{item!r}: final SIP responses are 200 to 699 (1xx are provisional)")
        ranges.append((first, last))
    return ranges


class SipPolling(Model):
    """SIP OPTIONS to the node (RFC 3261); OK when a final response's code is in expect_status."""

    id: str = Field(min_length=1)
    method: Literal["sip"]
    transport: Literal["udp", "tcp", "tls"] = Field(
        "udp", description="UDP retransmits per RFC 3261 timer E (500 ms doubling) within the timeout"
    )
    port: int | None = Field(None, ge=1, le=65535, description="default 5060, 5061 for tls")
    expect_status: list[int | str] = Field(
        default_factory=lambda: list[int | str](["200-299"]),
        description="codes or ranges of final responses that count as alive; many PBXes answer "
        "OPTIONS with 403 or 404 (e.g. [200-299, 403, 404])",
    )
    request_uri: str = Field(
        "sip:{address}:{port}",
        description="Request-URI (and To) template; {address} (IPv6 in brackets) and {port}",
    )
    from_user: str = Field("simplefailover", min_length=1, description="user part of the From header")
    server_name: str | None = Field(None, description="TLS: name for SNI and certificate verification")
    verify_tls: bool = Field(True, description="TLS: verify the node's certificate")
    ca_file: Path | None = Field(None, description="TLS: CA bundle to verify the certificate with")
    timeout: float = Field(5.0, gt=0, le=300, description="seconds to wait for a final response")

    _resolve_ca_file = field_validator("ca_file")(resolve_path)

    @field_validator("expect_status")
    @classmethod
    def _codes(cls, value: list[int | str]) -> list[int | str]:
        if not value:
            raise ValueError("must list at least one code or range")
        _status_ranges(value)
        return value

    @field_validator("from_user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._~!$&'()*+,;=%-]+", value):
            raise ValueError(f"{value!r}: letters, digits and -._~!$&'()*+,;=% only (RFC 3261 user)")
        return value

    @field_validator("request_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not value.startswith(("sip:", "sips:")):
            raise ValueError("must start with sip: or sips:")
        try:
            value.format(address="x", port=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"bad template ({exc}); the placeholders are {{address}} and {{port}}") from exc
        if any(c.isspace() for c in value):
            raise ValueError("must not contain spaces")
        return value

    @property
    def effective_port(self) -> int:
        """The port used: `port`, else 5061 for TLS and 5060 otherwise."""
        return self.port or (5061 if self.transport == "tls" else 5060)

    def status_ok(self, code: int) -> bool:
        """Whether a final response code counts as alive."""
        return any(low <= code <= high for low, high in _status_ranges(self.expect_status))

    @property
    def expected_text(self) -> str:
        return ", ".join(str(item) for item in self.expect_status)


class DnsPolling(Model):
    """Ask the node a DNS question; OK when the reply has the expected rcode (and answer)."""

    id: str = Field(min_length=1)
    method: Literal["dns"]
    name: str = Field(description="the name asked, e.g. www.example.com")
    type: str = Field("A", description="record type asked (A, AAAA, SOA, NS, MX, TXT, SRV, ...)")
    port: int = Field(53, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = Field("udp", description="udp falls back to tcp on a truncated reply")
    expect_rcode: str = Field("NOERROR", description="response code that counts as OK (NXDOMAIN, ...)")
    expect_answer: str | None = Field(
        None,
        description="one record of the answer must read this, as in a zone file (192.0.2.1, "
        "'10 mail.example.com.'); {address} is the node's address",
    )
    recursion: bool = Field(False, description="set RD (ask a resolver rather than an authoritative server)")
    timeout: float = Field(3.0, gt=0, le=300)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        import dns.rdatatype

        try:
            return dns.rdatatype.to_text(dns.rdatatype.from_text(value.strip().upper()))
        except Exception:
            raise ValueError(f"{value!r} is not a DNS record type (A, AAAA, SOA, NS, TXT, ...)") from None

    @field_validator("expect_rcode")
    @classmethod
    def _rcode(cls, value: str) -> str:
        import dns.rcode

        try:
            return dns.rcode.to_text(dns.rcode.from_text(value.strip().upper()))
        except Exception:
            raise ValueError(f"{value!r} is not a DNS response code (NOERROR, NXDOMAIN, ...)") from None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        import dns.name

        try:
            dns.name.from_text(value)
        except Exception as exc:
            raise ValueError(f"{value!r} is not a valid DNS name ({exc})") from None
        return value


class CommandPolling(Model):
    """Run a program per node, Nagios style: exit 0 is OK; 1 (WARNING), 2 (CRITICAL), 3 (UNKNOWN) or
    any other is KO. UNKNOWN is KO too: a check that cannot vouch for a node must not keep
    traffic on it. The first line of output (without performance data) is the detail.
    """

    id: str = Field(min_length=1)
    method: Literal["command"]
    shell: bool = Field(False, description="run `command` (then one string) with /bin/sh -c")
    command: list[str] | str = Field(
        description="the program and its arguments: a list, or a string split as a shell would but "
        "run without one; {address}, {id} and {polling} are replaced by the node's values, which "
        "are also in the environment as SF_NODE_ADDRESS, SF_NODE_ID and SF_POLLING_ID; a relative "
        "program path is relative to the config file's folder"
    )
    timeout: float = Field(
        10.0, gt=0, le=3600, description="seconds; then the program's process group is killed"
    )

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | str, info: ValidationInfo) -> list[str] | str:
        shell = info.data.get("shell") is True
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("must not be empty")
            if shell:
                return value
            try:
                value = shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"{value!r}: {exc} (quotes as in a shell)") from None
        elif shell:
            raise ValueError("with shell: true, give the command as one string")
        if not value or not value[0]:
            raise ValueError("must name a program")
        base = (info.context or {}).get("base_dir")
        if base and "/" in value[0] and not value[0].startswith("/"):
            value = [str(Path(base) / value[0]), *value[1:]]
        return value

    def argv(self, values: dict[str, str]) -> list[str]:
        """The program and arguments for one node (placeholders filled in)."""
        if self.shell:
            assert isinstance(self.command, str)
            quoted = {key: shlex.quote(value) for key, value in values.items()}
            return ["/bin/sh", "-c", _fill(self.command, quoted)]
        assert isinstance(self.command, list)  # the validator splits a string without shell
        return [_fill(word, values) for word in self.command]


def _fill(text: str, values: dict[str, str]) -> str:
    """Replace {address}, {id}, {polling}; other braces (awk, JSON) stay as written."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


AnyPolling = HttpPolling | TcpPolling | SipPolling | DnsPolling | CommandPolling

METHOD_TAGS = ("http", "telnet", "sip", "dns", "command")
METHODS = {**{tag: tag for tag in METHOD_TAGS}, "tcp": "telnet"}  # method -> the union's tag


def _polling_kind(value: Any) -> str | None:
    method = value.get("method") if isinstance(value, dict) else getattr(value, "method", None)
    return METHODS.get(method) if isinstance(method, str) else None


Polling = Annotated[
    Annotated[HttpPolling, Tag("http")]
    | Annotated[TcpPolling, Tag("telnet")]
    | Annotated[SipPolling, Tag("sip")]
    | Annotated[DnsPolling, Tag("dns")]
    | Annotated[CommandPolling, Tag("command")],
    Discriminator(
        _polling_kind,
        custom_error_type="method",
        custom_error_message="method must be one of: http, telnet (alias tcp), sip, dns, command",
    ),
]
