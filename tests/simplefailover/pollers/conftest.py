"""Real servers on loopback for the poller tests."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

HTTP_ADDRESS = "127.0.0.21"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/ok": (200, "<title>Login</title>"),
            "/fail": (500, "boom"),
            "/redirect": (302, ""),
            "/slow-body": (200, None),
        }
        if self.path == "/vhost":
            wanted = self.headers.get("Host") == "ias.example.com"
            status, body = (200, "Login vhost") if wanted else (404, "unknown site")
        else:
            status, body = routes.get(self.path, (404, "not found"))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        if body is None:  # headers, then nothing: the body never comes
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            threading.Event().wait(10)
            return
        data = body.encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _serve(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    server.daemon_threads = True  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def http_server() -> Iterator[socketserver.BaseServer]:
    yield from _serve(ThreadingHTTPServer((HTTP_ADDRESS, 0), Handler))


@pytest.fixture(scope="module")
def http6_server() -> Iterator[socketserver.BaseServer]:
    yield from _serve(V6Server(("::1", 0), Handler))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def https_server(ca: trustme.CA) -> Iterator[socketserver.BaseServer]:
    cert = ca.issue_cert("ias.example.com")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server = ThreadingHTTPServer((HTTP_ADDRESS, 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) and never says anything."""
    with socket.socket() as sock:
        sock.bind((HTTP_ADDRESS, 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind((HTTP_ADDRESS, 0))
        return int(sock.getsockname()[1])


class BannerHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"220 ready\r\n")
        self.request.settimeout(2)
        try:
            data = self.request.recv(100)
        except TimeoutError:
            return
        if data:
            self.request.sendall(b"echo: " + data)


@pytest.fixture(scope="module")
def banner_server() -> Iterator[socketserver.BaseServer]:
    """Greets with '220 ready', then echoes what it receives as 'echo: ...'."""
    yield from _serve(socketserver.ThreadingTCPServer((HTTP_ADDRESS, 0), BannerHandler))
