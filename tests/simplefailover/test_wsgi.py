"""The WSGI server (waitress through create_server/run/close): bind errors, serving, clean stop."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any

import pytest
import requests

from simplefailover.errors import BindError
from simplefailover.wsgi import WsgiServer

HOST = "127.0.18.21"


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = f"hello {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def serving_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("wsgi ")}


def test_a_port_in_use_is_a_bind_error_naming_the_setting_and_the_address() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BindError) as raised:
            WsgiServer(hello, f"{HOST}:{port}", what="dashboard.listen")
    message = str(raised.value)
    assert message.startswith(f"dashboard.listen {HOST}:{port}: cannot listen:")
    assert "in use" in message


def test_serves_and_stops_from_another_thread_closing_open_connections() -> None:
    server = WsgiServer(hello, f"{HOST}:0", threads=2)
    [(host, port)] = server.addresses
    assert host == HOST and port > 0
    server.start()
    with requests.Session() as session:  # keeps its connection open (keep-alive)
        answer = session.get(f"http://{HOST}:{port}/one", timeout=5)
        assert answer.status_code == 200 and answer.text == "hello /one"
        idle = socket.create_connection((HOST, port), timeout=5)  # connected, sends nothing
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        stopper.join(timeout=15)
        assert not stopper.is_alive()
        assert f"wsgi {HOST}:0" not in serving_threads()
        with idle:
            try:
                closed = idle.recv(1) == b""  # the server closed it
            except ConnectionResetError:
                closed = True  # closed with a reset (the kernel's choice at close): closed all the same
            assert closed
    # The port is free again: the same address can be served at once.
    again = WsgiServer(hello, f"{HOST}:{port}")
    again.start()
    try:
        assert requests.get(f"http://{HOST}:{port}/two", timeout=5).text == "hello /two"
    finally:
        again.stop()


def test_stop_before_start_releases_the_port() -> None:
    server = WsgiServer(hello, f"{HOST}:0")
    [(_, port)] = server.addresses
    server.stop()
    with socket.socket() as probe:
        probe.bind((HOST, port))
