"""A real HTTP receiver for webhook tests: scripted status codes, optional slowness, every POST kept."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RECEIVER_HOST = "127.0.23.40"


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the receiver answers (`script`: statuses for the next POSTs, then 200) and what it got."""

    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    posts: list[Post] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        if self.delay:
            time.sleep(self.delay)  # the receiver's slowness is the point of the test
        with self.cond:
            status = self.script.pop(0) if self.script else 200
            self.posts.append(Post(path, headers, body, status))
            self.cond.notify_all()
        return status

    def accepted(self) -> list[Post]:
        with self.cond:
            return [p for p in self.posts if 200 <= p.status <= 299]

    def wait_accepted(self, count: int, timeout: float = 20.0) -> list[Post]:
        """Wait until `count` POSTs were answered 2xx; return them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([p for p in self.posts if 200 <= p.status <= 299]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(p.status, p.body[:60]) for p in self.posts]
                    raise AssertionError(f"expected {count} accepted POSTs within {timeout} s, got {got}")
                self.cond.wait(left)
        return self.accepted()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.answer(self.path, headers, body)
            reply = b"ok" if status < 300 else b"try later"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver(port: int, receiver: Receiver | None = None) -> Iterator[Receiver]:
    """Serve on RECEIVER_HOST:port until the block ends."""
    box = receiver if receiver is not None else Receiver()
    server = ThreadingHTTPServer((RECEIVER_HOST, port), _handler(box))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
