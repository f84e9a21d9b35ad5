"""A small real SIP responder for tests: UDP, TCP and TLS on loopback, behaviour per Request-URI user.

`sip:<behaviour>@host:port`: ok (200), notfound (404), silent (nothing), garbage (bytes
that are no SIP), trying (100 Trying, then nothing), tryingok (100 then 200), late (UDP:
200 only to the third transmission), stale (first a 200 for another transaction, then 404).
Every request received is kept, raw, so tests can check what was sent.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

GARBAGE = b"\x00\xff\xfeHELLO this is not SIP\r\n\r\n"


def _headers(request: bytes) -> tuple[str, dict[str, str]]:
    text = request.decode("utf-8", "replace")
    lines = text.split("\r\n\r\n", 1)[0].split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return lines[0], headers


def behaviour(request: bytes) -> str:
    start, _ = _headers(request)
    uri = start.split(" ")[1] if " " in start else ""
    return uri.split(":", 1)[-1].split("@", 1)[0] if "@" in uri else "ok"


def response(request: bytes, code: int, reason: str, call_id: str | None = None) -> bytes:
    """A response to request, copying Via, From, Call-ID and CSeq as a UAS does (RFC 3261 8.2.6)."""
    _, h = _headers(request)
    lines = [
        f"SIP/2.0 {code} {reason}",
        f"Via: {h.get('via', '')}",
        f"From: {h.get('from', '')}",
        f"To: {h.get('to', '')};tag=resp{code}",
        f"Call-ID: {call_id or h.get('call-id', '')}",
        f"CSeq: {h.get('cseq', '')}",
        "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def replies(request: bytes, seen: int) -> list[bytes]:
    """What to send back for the seen-th transmission (1-based) of this request."""
    kind = behaviour(request)
    if kind == "ok":
        return [response(request, 200, "OK")]
    if kind == "notfound":
        return [response(request, 404, "Not Found")]
    if kind == "garbage":
        return [GARBAGE]
    if kind == "trying":
        return [response(request, 100, "Trying")] if seen == 1 else []
    if kind == "tryingok":
        return [response(request, 100, "Trying"), response(request, 200, "OK")]
    if kind == "late":
        return [response(request, 200, "OK")] if seen >= 3 else []
    if kind == "stale":
        return [
            response(request, 200, "OK", call_id="old-transaction@x"),
            response(request, 404, "Not Found"),
        ]
    return []  # silent


@dataclass
class SipResponder:
    host: str
    received: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    udp_port: int = 0
    tcp_port: int = 0
    tls_port: int = 0

    def keep(self, request: bytes) -> int:
        """Record a request; how many times this Call-ID has been seen."""
        with self.lock:
            self.received.append(request)
            call_id = _headers(request)[1].get("call-id")
            return sum(1 for r in self.received if _headers(r)[1].get("call-id") == call_id)

    def requests(self, kind: str) -> list[tuple[str, dict[str, str]]]:
        """(start line, headers) of the requests received with this behaviour."""
        with self.lock:
            return [_headers(r) for r in self.received if behaviour(r) == kind]


def _serve_udp(sock: socket.socket, responder: SipResponder, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(65535)
        except TimeoutError:
            continue
        except OSError:
            return
        for reply in replies(data, responder.keep(data)):
            sock.sendto(reply, peer)


def _stream_handler(responder: SipResponder) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                for reply in replies(data, responder.keep(data)):
                    self.request.sendall(reply)
                self.request.recv(1)  # hold the connection until the client closes it
            except OSError:
                return

    return Handler


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


@contextmanager
def sip_responder(host: str, tls_context: ssl.SSLContext | None = None) -> Iterator[SipResponder]:
    """Run the responder on host: UDP and TCP, and TLS when a server context is given."""
    responder = SipResponder(host)
    stop = threading.Event()
    v6 = ":" in host
    server_class = _Server6 if v6 else _Server
    udp = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, 0))
    responder.udp_port = udp.getsockname()[1]
    servers = [server_class((host, 0), _stream_handler(responder))]
    responder.tcp_port = servers[0].server_address[1]
    if tls_context is not None:
        tls = server_class((host, 0), _stream_handler(responder))
        tls.socket = tls_context.wrap_socket(tls.socket, server_side=True)
        responder.tls_port = tls.server_address[1]
        servers.append(tls)
    threads = [threading.Thread(target=_serve_udp, args=(udp, responder, stop), daemon=True)]
    threads += [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield responder
    finally:
        stop.set()
        for server in servers:
            server.shutdown()
            server.server_close()
        udp.close()
