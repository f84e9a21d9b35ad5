"""`simplefailover demo`: demo nodes on 127.0.0.11-13 and the service watching them."""

from __future__ import annotations

import logging
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .config import Config, Node, TcpPolling, load_config
from .daemon import Daemon
from .errors import BindError, ConfigError
from .service import start_thread

logger = logging.getLogger(__name__)


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
        self.request.sendall(f"220 {self.node_id} ready\r\n".encode())


class DemoNode:
    """One fake application server: an HTTP login page and a TCP banner."""

    def __init__(self, node: Node, http_port: int, tcp_ports: list[int]) -> None:
        self.node = node
        self.http_port = http_port
        self.tcp_ports = tcp_ports
        self._servers: list[socketserver.BaseServer] = []

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def start(self) -> None:
        if self._servers:
            return
        address = str(self.node.address)
        page = type("Page", (_Page,), {"node_id": self.node.id})
        banner = type("Banner", (_Banner,), {"node_id": self.node.id})
        try:
            servers: list[socketserver.BaseServer] = [ThreadingHTTPServer((address, self.http_port), page)]
            for port in self.tcp_ports:
                servers.append(socketserver.ThreadingTCPServer((address, port), banner))
        except OSError as exc:
            raise BindError(f"demo node {self.node.id}: cannot listen on {address}: {exc}") from exc
        for server in servers:
            server.daemon_threads = True  # type: ignore[attr-defined]
            start_thread(f"demo-{self.node.id}", server.serve_forever)
        self._servers = servers

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []


def demo_nodes(config: Config) -> list[DemoNode]:
    """Demo servers for every node, on the ports the config's pollings use."""
    http_port = 8080
    for polling in config.pollings:
        if polling.method == "http":
            from urllib.parse import urlsplit

            http_port = urlsplit(polling.url.format(address="127.0.0.1")).port or 80
    tcp_ports = sorted({p.port for p in config.pollings if isinstance(p, TcpPolling)})
    return [DemoNode(node, http_port, tcp_ports) for node in config.nodes]


HELP = """\
Commands: stop NODE | start NODE | status | help | quit   (Ctrl-C also quits)
"""


def run_demo(config_path: str) -> int:
    """Start the demo nodes and the service; take commands on stdin until quit."""
    path = Path(config_path)
    if not path.exists():
        print(f"{path}: not found (run from the repository root, or pass -c)", file=sys.stderr)
        return 2
    try:
        config = load_config(path)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    nodes = demo_nodes(config)
    for node in nodes:
        node.start()
    daemon = Daemon(path, config)
    daemon.start()
    print(intro(config))
    print(HELP)
    try:
        _command_loop(nodes, daemon)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the demo ...")
        daemon.stop()
        for node in nodes:
            node.stop()
    return 0


def intro(config: Config) -> str:
    """What to try, for the person who started the demo."""
    lines = [f"SimpleFailover demo: zone {config.zone.name}"]
    for node in config.nodes:
        lines.append(f"  node {node.id:<6} {node.address}  priority {node.priority}")
    if config.dns.listen:
        host, port = config.dns.addresses()[0]
        fqdn = config.fqdn(config.hostnames[0])
        lines.append(f"  resolve:   dig @{host} -p {port} {fqdn}")
    if config.dashboard.enabled:
        host, port = config.dashboard.address()
        lines.append(f"  dashboard: http://{'localhost' if host.startswith('127.') else host}:{port}/")
    lines.append(f"  table:     simplefailover check -c {config.source}")
    return "\n".join(lines)


def _command_loop(nodes: list[DemoNode], daemon: Daemon) -> None:
    by_id = {n.node.id: n for n in nodes}
    stop = threading.Event()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        verb, *rest = words
        target = by_id.get(rest[0]) if rest else None
        if verb in ("quit", "exit"):
            return
        if verb in ("stop", "start") and target is None:
            print(f"which node? one of {', '.join(by_id)}")
        elif verb == "stop" and target:
            target.stop()
            print(f"{target.node.id} stopped; watch the answer move")
        elif verb == "start" and target:
            target.start()
            print(f"{target.node.id} started; it fails back once it is OK again")
        elif verb == "status":
            table = daemon.engine.table
            for fqdn, answer in table.answers.items():
                print(f"{fqdn} -> {', '.join(answer.addresses) or '(none)'} (serial {table.serial})")
        else:
            print(HELP)
    # stdin closed (no terminal): keep running until Ctrl-C or SIGTERM
    stop.wait()
