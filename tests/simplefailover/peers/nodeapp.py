"""A node's application for the agreement tests: a login page on one port per polling instance.

`python -m tests.simplefailover.peers.nodeapp HOST PORT...`. One port per instance lets a
test cut one instance's link to this node with an iptables rule on that port alone
(on loopback every poll comes from 127.0.0.1, so the port is what tells them apart).
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = b"<html><title>Login</title></html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(host: str, ports: list[int]) -> None:
    servers = [ThreadingHTTPServer((host, port), Page) for port in ports]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], [int(p) for p in sys.argv[2:]])
