"""Demo nodes: fake application servers (an HTTP page or the contacts app, and a TCP banner)."""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from habase.service import start_thread

from ..config import Config, Node, TcpPolling
from ..errors import BindError
from ..wsgi import WsgiServer
from .contacts import create_contacts_app

logger = logging.getLogger(__name__)

BANNER_LINGER = 5.0  # seconds a banner connection waits for the client to close


class _Page(BaseHTTPRequestHandler):
    server_version = "demo-node"
    node_id = "?"

    def do_GET(self) -> None:
        body = f"<html><title>Login</title><body>Login page of {self.node_id}</body></html>"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Banner(socketserver.BaseRequestHandler):
    node_id = "?"

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.sendall(f"220 {self.node_id} ready\r\n".encode())
        # Let the client close first: the side that closes first keeps the connection in
        # TIME_WAIT, and on the banner side that would hold the port after a stop.
        sock.settimeout(BANNER_LINGER)
        try:
            while sock.recv(4096):
                pass
            return
        except OSError:
            pass
        # A client that stays silent: reset instead of closing, so no TIME_WAIT is left here.
        # Close at once: socketserver would first shutdown(SHUT_WR), sending a FIN, and a
        # client closing before our close() would then put this side in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


class _BannerServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True  # a restarted node listens again at once
    daemon_threads = True
    block_on_close = False


class DemoNode:
    """One fake application server: an HTTP login page and a TCP banner."""

    def __init__(
        self, node: Node, http_port: int, tcp_ports: list[int], database: Path | None = None
    ) -> None:
        self.node = node
        self.http_port = http_port
        self.tcp_ports = tcp_ports
        self.database = database  # serve the contacts app on it instead of a plain page
        self._servers: list[socketserver.BaseServer] = []
        self._app_server: WsgiServer | None = None

    @property
    def running(self) -> bool:
        return bool(self._servers) or self._app_server is not None

    def start(self) -> None:
        """Listen on the node's address; a node that is already up stays as it is."""
        if self.running:
            return
        address = str(self.node.address)
        page = type("Page", (_Page,), {"node_id": self.node.id})
        banner = type("Banner", (_Banner,), {"node_id": self.node.id})
        servers: list[socketserver.BaseServer] = []
        app_server: WsgiServer | None = None
        try:
            if self.database is None:
                servers.append(ThreadingHTTPServer((address, self.http_port), page))
            else:
                app = create_contacts_app(self.database, self.node.id)
                app_server = WsgiServer(app, f"{self.node.url_host}:{self.http_port}", 8, "demo node")
            for port in self.tcp_ports:
                servers.append(_BannerServer((address, port), banner))
        except (OSError, BindError) as exc:
            for server in servers:
                server.server_close()
            if app_server is not None:
                app_server.stop()
            raise BindError(f"demo node {self.node.id}: cannot listen on {address}: {exc}") from exc
        for server in servers:
            server.daemon_threads = True  # type: ignore[attr-defined]
            start_thread(f"demo-{self.node.id}", server.serve_forever)
        if app_server is not None:
            app_server.start()
        self._servers, self._app_server = servers, app_server

    def stop(self) -> None:
        """Stop listening, as a crashed application server would."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        if self._app_server is not None:
            self._app_server.stop()
        self._servers, self._app_server = [], None


def demo_nodes(config: Config, data_dir: Path | None = None) -> list[DemoNode]:
    """Demo servers for every node, on the ports the config's pollings use.

    With data_dir, each node serves the contacts app on data_dir/<node id>/app.db.
    """
    http_port = 8080
    for polling in config.pollings:
        if polling.method == "http":
            http_port = urlsplit(polling.url.format(address="127.0.0.1")).port or 80
    tcp_ports = sorted({p.port for p in config.pollings if isinstance(p, TcpPolling)})
    return [
        DemoNode(node, http_port, tcp_ports, data_dir / node.id / "app.db" if data_dir else None)
        for node in config.nodes
    ]
