"""The sip poller: SIP OPTIONS over UDP, TCP or TLS; a final response in expect_status is OK."""

from __future__ import annotations

import socket
import ssl
import time

from ..config import Node, SipPolling
from .certs import peer_not_after
from .result import PollResult
from .sipmsg import NotSip, Request, Response, build_options, host_part, parse_response, split_stream
from .tcp import os_error

T1 = 0.5  # RFC 3261 17.1.2.2: timer E starts at T1 and doubles up to T2
T2 = 4.0


class SipPoller:
    """Checks one sip polling against any node; never raises for a down node."""

    def __init__(self, polling: SipPolling) -> None:
        self.polling = polling

    def check(self, node: Node) -> PollResult:
        """Send OPTIONS to node and judge the final response."""
        start = time.monotonic()
        deadline = start + self.polling.timeout
        address = (str(node.address), self.polling.effective_port)
        family = socket.AF_INET6 if node.address.version == 6 else socket.AF_INET
        uri = self.polling.request_uri.format(address=host_part(address[0]), port=address[1])
        if self.polling.transport != "udp":
            uri += f";transport={self.polling.transport}"
        cert: float | None = None
        try:
            if self.polling.transport == "udp":
                error = self._udp(family, address, uri, deadline)
            else:
                error, cert = self._stream(family, address, uri, deadline)
        except NotSip as exc:
            error = str(exc)
        except ConnectionRefusedError:
            error = "connection refused"
        except ssl.SSLCertVerificationError as exc:
            error = f"TLS error: {exc.reason} ({exc.verify_message})"
        except ssl.SSLError as exc:
            error = f"TLS error: {exc.reason or exc}"
        except OSError as exc:
            error = os_error(exc)
        return PollResult(not error, time.monotonic() - start, error, time.time(), cert)

    def _judge(self, response: Response) -> str:
        if self.polling.status_ok(response.code):
            return ""
        return f"SIP {response.code} {response.reason} (expected {self.polling.expected_text})"

    def _no_final(self, provisional: Response | None, sent: int) -> str:
        what = f"{sent} transmission(s) over UDP" if sent else self.polling.transport.upper()
        if provisional is not None:
            return (
                f"only a provisional {provisional.code} {provisional.reason}, no final response "
                f"within {self.polling.timeout:g}s ({what})"
            )
        return f"no SIP response within {self.polling.timeout:g}s ({what})"

    def _udp(self, family: int, address: tuple[str, int], uri: str, deadline: float) -> str:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(address)  # only the node's datagrams, and ICMP unreachable as an error
            request = build_options(uri, "udp", sock.getsockname()[:2], self.polling.from_user)
            interval, next_send, sent = T1, time.monotonic(), 0
            provisional: Response | None = None
            while (now := time.monotonic()) < deadline:
                if now >= next_send:
                    sock.send(request.data)
                    sent += 1
                    next_send = now + interval
                    interval = T2 if provisional else min(interval * 2, T2)
                sock.settimeout(max(0.001, min(next_send, deadline) - now))
                try:
                    data = sock.recv(65535)
                except TimeoutError:
                    continue
                response = parse_response(data)
                if not response.answers(request):
                    continue  # a late answer to an earlier poll
                if response.final:
                    return self._judge(response)
                if provisional is None:  # Proceeding: retransmit every T2 from now on
                    interval = T2
                    next_send = min(next_send, now + T2)
                provisional = response
            return self._no_final(provisional, sent)

    def _stream(
        self, family: int, address: tuple[str, int], uri: str, deadline: float
    ) -> tuple[str, float | None]:
        polling = self.polling
        try:
            raw = socket.create_connection(address, timeout=max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            return f"connect timed out after {polling.timeout:g}s", None
        cert: float | None = None
        sock: socket.socket = raw
        with raw:
            if polling.transport == "tls":
                sock = self._tls_context().wrap_socket(
                    raw, server_hostname=polling.server_name or (address[0] if polling.verify_tls else None)
                )
                cert = peer_not_after(sock)
            with sock:
                request = build_options(uri, polling.transport, sock.getsockname()[:2], polling.from_user)
                try:
                    sock.sendall(request.data)
                    return self._read_final(sock, request, deadline), cert
                except NotSip as exc:  # the certificate seen still counts
                    return str(exc), cert
                except OSError as exc:
                    return os_error(exc), cert

    def _read_final(self, sock: socket.socket, request: Request, deadline: float) -> str:
        buffer = b""
        provisional: Response | None = None
        while True:
            while (cut := split_stream(buffer)) is not None:
                message, buffer = cut
                response = parse_response(message)
                if not response.answers(request):
                    continue
                if response.final:
                    return self._judge(response)
                provisional = response
            left = deadline - time.monotonic()
            if left <= 0:
                return self._no_final(provisional, 0)
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return self._no_final(provisional, 0)
            if not chunk:
                return f"connection closed before a final response (after {len(buffer)} byte(s))"
            buffer += chunk

    def _tls_context(self) -> ssl.SSLContext:
        polling = self.polling
        context = ssl.create_default_context(cafile=str(polling.ca_file) if polling.ca_file else None)
        if not polling.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context
