"""host:port text and IP addresses as config values: one parser, one validator."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema


def to_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address from its text; ValueError with a message fit for a config error."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ValueError("value is not a valid IPv4 or IPv6 address") from None


IPAddress = Annotated[
    ipaddress.IPv4Address | ipaddress.IPv6Address,
    PlainValidator(to_ip),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "format": "ip-address"}),
]


def parse_hostport(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Split 'host:port' or '[v6]:port' into (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"{text!r}: missing ']' after IPv6 address")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':port' after ']'")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif text.count(":") > 1:
        raise ValueError(f"{text!r}: put an IPv6 address in brackets, as [::1]:53")
    else:
        host, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise ValueError(f"{text!r}: missing port")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


def format_hostport(host: str, port: int) -> str:
    """Join (host, port) as 'host:port', an IPv6 host in brackets: parse_hostport's inverse."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """Whether host is localhost or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_ip_hostport(value: str, default_port: int) -> str:
    """Return value if it is 'address[:port]' with an IP literal address (IPv6 in brackets)."""
    host, _ = parse_hostport(value, default_port)
    to_ip(host)
    return value


def ip_hostport(default_port: int) -> AfterValidator:
    """The validator of an 'address[:port]' config value (check_ip_hostport)."""
    return AfterValidator(lambda value: check_ip_hostport(value, default_port))
