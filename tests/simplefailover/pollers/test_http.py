"""The http poller against real HTTP(S) servers on loopback."""

from __future__ import annotations

import socketserver
from pathlib import Path
from typing import Any

import pytest

from simplefailover.config import HttpPolling, Node
from simplefailover.pollers import HttpPoller

from .conftest import HTTP_ADDRESS


def port_of(server: socketserver.BaseServer) -> int:
    return int(server.server_address[1])


def polling(url: str, **extra: Any) -> HttpPolling:
    return HttpPolling(id="p", method="http", url=url, **{"timeout": 2, **extra})


NODE = Node(id="n", address=HTTP_ADDRESS)  # type: ignore[arg-type]
NODE6 = Node(id="n6", address="::1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "extra", "ok", "error"),
    [
        ("/ok", {}, True, ""),
        ("/ok", {"expect_body": "Login"}, True, ""),
        ("/ok", {"expect_body": "Welcome"}, False, "body does not contain 'Welcome'"),
        ("/fail", {}, False, "HTTP status 500 (expected 200-399)"),
        ("/fail", {"expect_status": [500]}, True, ""),
        ("/redirect", {}, True, ""),  # 302 is in the default 200-399 and is not followed
        ("/redirect", {"expect_status": [200]}, False, "HTTP status 302 (expected 200)"),
        ("/missing", {}, False, "HTTP status 404 (expected 200-399)"),
        ("/vhost", {}, False, "HTTP status 404"),
        ("/vhost", {"host_header": "ias.example.com", "expect_body": "vhost"}, True, ""),
    ],
)
def test_http_verdicts(
    http_server: socketserver.BaseServer, path: str, extra: dict[str, Any], ok: bool, error: str
) -> None:
    url = f"http://{{address}}:{port_of(http_server)}{path}"
    result = HttpPoller(polling(url, **extra)).check(NODE)
    assert result.ok is ok
    assert result.error.startswith(error)
    assert result.latency >= 0
    assert result.at > 0


def test_ipv6_address_is_bracketed(http6_server: socketserver.BaseServer) -> None:
    url = f"http://{{address}}:{port_of(http6_server)}/ok"
    result = HttpPoller(polling(url, expect_body="Login")).check(NODE6)
    assert result.ok, result.error


def test_connection_refused_is_a_result(closed_port: int) -> None:
    result = HttpPoller(polling(f"http://{{address}}:{closed_port}/ok")).check(NODE)
    assert not result.ok
    assert result.error == "connection refused"


def test_accepting_but_silent_server_times_out(silent_port: int) -> None:
    result = HttpPoller(polling(f"http://{{address}}:{silent_port}/ok", timeout=0.5)).check(NODE)
    assert not result.ok
    assert "timed out" in result.error
    assert 0.4 < result.latency < 5


def test_body_that_never_comes_times_out(http_server: socketserver.BaseServer) -> None:
    url = f"http://{{address}}:{port_of(http_server)}/slow-body"
    result = HttpPoller(polling(url, expect_body="x", timeout=0.5)).check(NODE)
    assert not result.ok
    assert "timed out" in result.error


def test_self_signed_certificate_fails_with_verification(https_server: socketserver.BaseServer) -> None:
    url = f"https://{{address}}:{port_of(https_server)}/ok"
    result = HttpPoller(polling(url, verify_tls=True)).check(NODE)
    assert not result.ok
    assert result.error.startswith("TLS error")


def test_self_signed_certificate_passes_without_verification(
    https_server: socketserver.BaseServer,
) -> None:
    url = f"https://{{address}}:{port_of(https_server)}/ok"
    result = HttpPoller(polling(url, verify_tls=False, expect_body="Login")).check(NODE)
    assert result.ok, result.error


def test_host_header_is_sent_as_sni_and_verified(
    https_server: socketserver.BaseServer, ca_file: Path
) -> None:
    url = f"https://{{address}}:{port_of(https_server)}/vhost"
    good = polling(url, host_header="ias.example.com", ca_file=ca_file, expect_body="vhost")
    assert HttpPoller(good).check(NODE).ok
    # Without the Host header the certificate (for ias.example.com) does not match the IP.
    bare = polling(f"https://{{address}}:{port_of(https_server)}/ok", ca_file=ca_file)
    result = HttpPoller(bare).check(NODE)
    assert not result.ok
    assert result.error.startswith("TLS error")
