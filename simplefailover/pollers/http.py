"""The http poller: GET a URL built from the node address and judge status and body."""

from __future__ import annotations

import time
import warnings
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool

from ..config import HttpPolling, Node
from .certs import peer_not_after
from .result import PollResult

# verify_tls: false is the administrator's explicit choice; do not warn on every poll.
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

MAX_BODY = 1 << 20  # read at most this much of the body when looking for expect_body


class _CertConnection(HTTPSConnection):
    """An HTTPS connection that notes when the node's certificate expires, right after the handshake.

    (The socket itself may be gone by the time the response is judged: http.client drops it
    from a connection that will close.)
    """

    peer_not_after: float | None = None

    def connect(self) -> None:
        super().connect()
        self.peer_not_after = peer_not_after(self.sock)  # type: ignore[arg-type]


class _CertPool(HTTPSConnectionPool):
    ConnectionCls = _CertConnection


class _TlsAdapter(HTTPAdapter):
    """HTTPS with certificate expiry noted; with a Host header, its name as SNI and for verification."""

    def __init__(self, server_hostname: str | None = None) -> None:
        self._server_hostname = server_hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._server_hostname:
            kwargs["server_hostname"] = self._server_hostname
            kwargs["assert_hostname"] = self._server_hostname
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            **self.poolmanager.pool_classes_by_scheme,
            "https": _CertPool,
        }


class HttpPoller:
    """Checks one http polling against any node; never raises for a down node."""

    def __init__(self, polling: HttpPolling) -> None:
        self.polling = polling
        expected = polling.expect_status
        self._expected_text = "200-399" if expected is None else ",".join(map(str, expected))
        self._verify: bool | str = (
            str(polling.ca_file) if polling.verify_tls and polling.ca_file else polling.verify_tls
        )

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # a proxy from the environment must not sit between us and the node
        host = self.polling.host_header
        session.mount("https://", _TlsAdapter(host.split(":")[0] if host else None))
        session.mount("http://", HTTPAdapter(max_retries=0))
        return session

    def check(self, node: Node) -> PollResult:
        """GET the polling's URL on node and return the verdict."""
        polling = self.polling
        url = polling.url.format(address=node.url_host)
        headers = {"User-Agent": "simplefailover", "Connection": "close"}
        if polling.host_header:
            headers["Host"] = polling.host_header
        start = time.monotonic()
        deadline = start + polling.timeout
        cert: float | None = None
        try:
            with (
                self._session() as session,
                session.get(
                    url,
                    headers=headers,
                    timeout=polling.timeout,
                    verify=self._verify,
                    allow_redirects=False,
                    stream=True,
                ) as response,
            ):
                cert = _peer_not_after(response) if url.startswith("https://") else None
                error = self._judge(response, deadline)
        except requests.exceptions.SSLError as exc:
            error = f"TLS error: {_root_cause(exc)}"
        except (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout):
            error = f"timed out after {polling.timeout:g}s"
        except requests.exceptions.ConnectionError as exc:
            error = _root_cause(exc)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return PollResult(not error, time.monotonic() - start, error, time.time(), cert)

    def _judge(self, response: requests.Response, deadline: float) -> str:
        if not self.polling.status_ok(response.status_code):
            return f"HTTP status {response.status_code} (expected {self._expected_text})"
        needle = self.polling.expect_body
        if not needle:
            return ""
        body = b""
        target = needle.encode()
        for chunk in response.iter_content(8192):
            body += chunk
            if target in body:
                return ""
            if len(body) >= MAX_BODY:
                break
            if time.monotonic() > deadline:
                return f"timed out after {self.polling.timeout:g}s reading the body"
        return f"body does not contain {needle!r}"


def _peer_not_after(response: requests.Response) -> float | None:
    """The node's certificate expiry, as noted by the connection the response came on."""
    connection = getattr(response.raw, "connection", None)  # urllib3 2: kept while streaming
    return getattr(connection, "peer_not_after", None)


def _root_cause(exc: BaseException) -> str:
    """The innermost useful message of a requests/urllib3 exception chain."""
    seen = exc
    while True:
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        inner = inner or getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    if isinstance(seen, ConnectionRefusedError):
        return "connection refused"
    text = str(seen)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text:
        return "timed out"
    return text.split(": ", 1)[-1] if "object at 0x" in text else text
