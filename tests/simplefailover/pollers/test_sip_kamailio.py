"""The sip poller against a real SIP server: Kamailio, which checks each request with its sanity module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simplefailover.config import Node, SipPolling
from simplefailover.pollers import SipPoller
from tests.support.bind import free_port
from tests.support.kamailio import Kamailio, have_kamailio

HOST = "127.0.23.90"
NODE = Node(id="proxy1", address=HOST)


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    if not have_kamailio():
        pytest.skip("Debian kamailio is not installed; make test installs it")
    server = Kamailio(tmp_path_factory.mktemp("kamailio"), HOST, free_port(HOST))
    server.start()
    yield server
    server.stop()


def polling(server: Kamailio, transport: str, user: str, **extra: Any) -> SipPolling:
    uri = f"sip:{user}@{{address}}:{{port}}"
    return SipPolling.model_validate(
        {
            "id": "sip",
            "method": "sip",
            "transport": transport,
            "port": server.port,
            "request_uri": uri,
            **extra,
        }
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_kamailio_accepts_our_options(kamailio: Kamailio, transport: str) -> None:
    result = SipPoller(polling(kamailio, transport, "ping", timeout=3)).check(NODE)
    assert result.ok, result.error  # a request its sanity checks refused would get no 200


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_kamailio_404_is_ko_unless_expected(kamailio: Kamailio, transport: str) -> None:
    assert SipPoller(polling(kamailio, transport, "nobody", timeout=3)).check(NODE).error == (
        "SIP 404 Not Found (expected 200-299)"
    )
    alive = polling(kamailio, transport, "nobody", timeout=3, expect_status=["200-299", 403, 404])
    assert SipPoller(alive).check(NODE).ok


def test_stopped_kamailio_is_ko(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not have_kamailio():
        pytest.skip("Debian kamailio is not installed; make test installs it")
    server = Kamailio(tmp_path_factory.mktemp("kamailio-stopped"), HOST, free_port(HOST))
    server.start()
    try:
        assert SipPoller(polling(server, "udp", "ping", timeout=3)).check(NODE).ok
    finally:
        server.stop()
    down = SipPoller(polling(server, "udp", "ping", timeout=1)).check(NODE)
    assert down.error == "connection refused"
