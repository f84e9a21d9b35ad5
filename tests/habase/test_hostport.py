"""host:port: one parser, its inverse, and the one validator of 'address[:port]' config values."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from habase.hostport import check_ip_hostport, format_hostport, ip_hostport, parse_hostport

ports = st.integers(min_value=0, max_value=65535)
addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)


@given(addresses, ports)
def test_format_then_parse_gives_back_host_and_port(host: str, port: int) -> None:
    text = format_hostport(host, port)
    assert parse_hostport(text) == (host, port)
    assert check_ip_hostport(text, 53) == text


@given(addresses, ports)
def test_the_default_port_fills_in_only_when_none_is_given(host: str, default: int) -> None:
    bare = f"[{host}]" if ":" in host else host
    assert parse_hostport(bare, default) == (host, default)
    with pytest.raises(ValueError, match="missing port"):
        parse_hostport(bare)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dns.example:53", "not a valid IPv4 or IPv6 address"),
        ("::1:53", "put an IPv6 address in brackets"),
        ("[::1:53", "missing ']'"),
        ("127.0.0.1:http", "port must be a number"),
        ("127.0.0.1:65536", "port must be a number"),
    ],
)
def test_the_validator_says_what_is_wrong(text: str, message: str) -> None:
    adapter = TypeAdapter(Annotated[str, ip_hostport(52710)])
    with pytest.raises(ValidationError, match=message):
        adapter.validate_python(text)
    assert adapter.validate_python("[::1]") == "[::1]"
    assert ipaddress.ip_address(parse_hostport("[::1]", 52710)[0]).is_loopback
