"""Only the local host gets in, and only through a local name (DNS rebinding stops here)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from habase.errors import ConfigError
from simplefailover.dashboard.access import client_allowed, host_allowed
from simplefailover.engine import Engine

from .conftest import CONFIG, feed_all, make_config

ROUTES = ["/", "/api/status", "/metrics", "/healthz", "/static/dashboard.css", "/no-such-page"]

LOOPBACK_CLIENTS = ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"]
OTHER_CLIENTS = [
    "192.168.1.10",
    "10.0.0.1",
    "8.8.8.8",
    "0.0.0.0",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "fe80::1",
    "",
]

LOCAL_HOSTS = [
    "localhost",
    "localhost:8081",
    "LocalHost:81",
    "127.0.0.1",
    "127.0.0.1:81",
    "[::1]",
    "[::1]:81",
    "127.0.0.40:8081",  # the literal address the dashboard may be bound to
]
FOREIGN_HOSTS = [
    "evil.example",
    "evil.example:81",
    "127.0.0.1.evil.example",
    "127.0.0.1.evil.example:81",
    "localhost.evil.example",
    "evil-localhost",
    "10.0.0.1:81",
    "::1",  # IPv6 without brackets is not a valid Host
    "[::1",
    "[::1]x",
    "[::1]:99999",
    "localhost:abc",
    "localhost:",
    "[fe80::1]:81",
    "",
]


@pytest.mark.parametrize("remote", LOOPBACK_CLIENTS)
def test_loopback_clients_allowed(remote: str) -> None:
    assert client_allowed(remote)


@pytest.mark.parametrize("remote", [*OTHER_CLIENTS, "not-an-address", None])
def test_other_clients_refused(remote: str | None) -> None:
    assert not client_allowed(remote)


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_local_host_headers_allowed(host: str) -> None:
    assert host_allowed(host)


@pytest.mark.parametrize("host", [*FOREIGN_HOSTS, None])
def test_foreign_host_headers_refused(host: str | None) -> None:
    assert not host_allowed(host)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("remote", OTHER_CLIENTS)
def test_non_loopback_client_gets_403_everywhere(client: FlaskClient, route: str, remote: str) -> None:
    response = client.get(route, environ_base={"REMOTE_ADDR": remote})
    assert response.status_code == 403
    assert "local host only" in response.text


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("host", [h for h in FOREIGN_HOSTS if h])
def test_spoofed_host_gets_403_everywhere(client: FlaskClient, route: str, host: str) -> None:
    response = client.get(route, headers={"Host": host})
    assert response.status_code == 403
    assert "http://localhost" in response.text


def test_missing_host_header_gets_403(client: FlaskClient) -> None:
    response = client.get("/", environ_overrides={"HTTP_HOST": ""})
    assert response.status_code == 403


@pytest.mark.parametrize("host", LOCAL_HOSTS)
@pytest.mark.parametrize("remote", LOOPBACK_CLIENTS)
def test_local_client_with_local_host_gets_in(
    client: FlaskClient, engine: Engine, host: str, remote: str
) -> None:
    feed_all(engine)
    response = client.get("/healthz", headers={"Host": host}, environ_base={"REMOTE_ADDR": remote})
    assert response.status_code == 200


def test_ipv6_loopback_client_and_host_see_the_page(client: FlaskClient, engine: Engine) -> None:
    feed_all(engine)
    response = client.get("/", headers={"Host": "[::1]:8081"}, environ_base={"REMOTE_ADDR": "::1"})
    assert response.status_code == 200
    assert "example.test" in response.text


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:81", "[::]:81", "192.168.1.10:81", "10.0.0.1", "dashboard.example:81"]
)
def test_non_loopback_listen_address_refused_when_loading(listen: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(CONFIG.replace('listen: "127.0.0.40:0"', f'listen: "{listen}"'))
    [problem] = caught.value.problems
    assert problem.startswith("dashboard.listen: ")
    assert "not a loopback address" in problem


@pytest.mark.parametrize("listen", ["127.0.0.1:81", "[::1]:81", "localhost:8081", "127.0.0.40"])
def test_loopback_listen_address_accepted(listen: str) -> None:
    config = make_config(CONFIG.replace('listen: "127.0.0.40:0"', f'listen: "{listen}"'))
    assert config.dashboard.listen == listen
