"""The dashboard service: waitress on a real loopback socket, clean stop, reconfigure."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import pytest

from simplefailover.config import Config
from simplefailover.dashboard.server import DashboardService
from simplefailover.engine import Engine
from simplefailover.errors import BindError
from simplefailover.metrics import Metrics

from .conftest import feed_all


def with_listen(config: Config, listen: str, enabled: bool = True) -> Config:
    dashboard = config.dashboard.model_copy(update={"listen": listen, "enabled": enabled})
    return config.model_copy(update={"dashboard": dashboard})


def get(address: tuple[str, int], path: str, host: str = "localhost") -> tuple[int, str]:
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def refused(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def service(config: Config, engine: Engine, metrics: Metrics) -> Iterator[DashboardService]:
    service = DashboardService(config, engine, metrics)
    service.start()
    yield service
    service.stop()


def test_serves_every_route_on_a_real_socket(service: DashboardService, engine: Engine) -> None:
    [address] = service.addresses
    assert address[0] == "127.0.0.40" and address[1] > 0
    assert get(address, "/healthz")[0] == 503
    feed_all(engine)
    status, body = get(address, "/", host=f"localhost:{address[1]}")
    assert status == 200 and "ias1.example.test" in body
    assert get(address, "/api/status")[0] == 200
    assert get(address, "/metrics")[0] == 200
    assert get(address, "/static/dashboard.css")[0] == 200
    assert get(address, "/healthz") == (200, f"ok: serial {engine.table.serial}\n")


def test_rebinding_host_refused_on_a_real_socket(service: DashboardService) -> None:
    status, body = get(service.addresses[0], "/", host="127.0.0.1.evil.example")
    assert status == 403
    assert "Forbidden" in body


def test_stop_closes_the_port_even_with_an_idle_keepalive_connection(service: DashboardService) -> None:
    address = service.addresses[0]
    idle = http.client.HTTPConnection(*address, timeout=5)
    idle.request("GET", "/healthz", headers={"Host": "localhost"})
    idle.getresponse().read()  # HTTP/1.1: the connection stays open
    service.stop()
    assert service.addresses == []
    assert refused(address)
    idle.close()


def test_reconfigure_moves_to_the_new_address(service: DashboardService, config: Config) -> None:
    old = service.addresses[0]
    service.reconfigure(with_listen(config, "127.0.0.43:0"))
    [new] = service.addresses
    assert new[0] == "127.0.0.43"
    assert get(new, "/healthz")[0] == 503
    assert refused(old)


def test_reconfigure_to_a_busy_address_keeps_serving(service: DashboardService, config: Config) -> None:
    old = service.addresses[0]
    with socket.socket() as busy:
        busy.bind(("127.0.0.44", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BindError) as refused_bind:  # the reload reports it (ServiceGroup.reconfigure)
            service.reconfigure(with_listen(config, f"127.0.0.44:{port}"))
    assert service.addresses == [old]
    assert get(old, "/healthz")[0] == 503
    assert f"dashboard.listen 127.0.0.44:{port}: cannot listen" in str(refused_bind.value)
    assert "stays on 127.0.0.40:0" in str(refused_bind.value)


def test_reconfigure_turns_it_off_and_on(service: DashboardService, config: Config) -> None:
    old = service.addresses[0]
    service.reconfigure(with_listen(config, config.dashboard.listen, enabled=False))
    assert service.addresses == []
    assert refused(old)
    service.reconfigure(with_listen(config, "127.0.0.43:0"))
    assert get(service.addresses[0], "/healthz")[0] == 503


def test_disabled_dashboard_does_not_listen(config: Config, engine: Engine, metrics: Metrics) -> None:
    service = DashboardService(with_listen(config, "127.0.0.40:0", enabled=False), engine, metrics)
    service.start()
    assert service.addresses == []
    service.stop()


def test_busy_port_is_a_clear_error(config: Config, engine: Engine, metrics: Metrics) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.45", 0))
        busy.listen()
        port = busy.getsockname()[1]
        service = DashboardService(with_listen(config, f"127.0.0.45:{port}"), engine, metrics)
        with pytest.raises(
            BindError, match=rf"dashboard.listen 127.0.0.45:{port}: cannot listen.*another program"
        ):
            service.start()
