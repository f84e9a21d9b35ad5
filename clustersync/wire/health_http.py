"""HTTP health endpoints on the control port, for load balancers and monitoring (as Patroni's).

Status codes carry the answer, so a load balancer needs no body parsing: 200 means yes,
503 means no. Only alarm states (and the readiness reason) are exposed; members,
addresses and data are only given to clients that hold the cluster secret. One request
per connection, GET or HEAD; the request head is bounded.

    /health, /readiness   200 ready, else 503
    /liveness             200 while the daemon answers
    /activity             200 syncing (green or yellow), else 503
    /time                 200 clocks aligned, else 503
    /alarms               200 everything green, else 503; JSON of the three alarms
    /status               200 always; the same JSON
    /metrics              200; Prometheus text
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

MAX_HEAD = 8192
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}
JSON = "application/json"
ENDPOINTS = ("/health", "/readiness", "/liveness", "/activity", "/time", "/alarms", "/status", "/metrics")


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status code, content type, body."""

    status: int
    content_type: str
    body: bytes


def public(node_id: str, alarms: Mapping[str, Any]) -> dict[str, Any]:
    """The alarm states an unauthenticated client may see."""
    readiness, activity, alignment = alarms["readiness"], alarms["activity"], alarms["time_alignment"]
    return {
        "node": node_id,
        "readiness": {
            "state": readiness["state"],
            "ready": readiness["ready"],
            "reason": readiness["reason"],
        },
        "activity": {"state": activity["state"]},
        "time_alignment": {"state": alignment["state"]},
        # How many overwritten rows wait for `clustersync conflicts ack` (counts only, no data).
        "conflicts": dict(alarms.get("conflicts") or {}),
        # Data freshness (simplefailover max_data_lag): when this member last exchanged data
        # with another one (a session that sent or received changes, or found none to send),
        # and how many seconds ago by its own clock; None: never since it started.
        "data": dict(alarms.get("data") or {"last_sync_at": None, "age": None}),
    }


def _json(status: int, data: object) -> Response:
    return Response(status, JSON, (json.dumps(data, indent=1) + "\n").encode())


def answer(path: str, node_id: str, alarms: Mapping[str, Any], metrics: Callable[[], bytes]) -> Response:
    """Pure apart from reading metrics: the response to GET path."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    states = public(node_id, alarms)
    ready = bool(alarms["readiness"]["ready"])
    activity = alarms["activity"]["state"]
    aligned = alarms["time_alignment"]["state"] == "green"
    if path in ("/health", "/readiness"):
        return _json(200 if ready else 503, states["readiness"])
    if path == "/liveness":
        return _json(200, {"node": node_id, "alive": True})
    if path == "/activity":
        return _json(200 if activity in ("green", "yellow") else 503, states["activity"])
    if path == "/time":
        return _json(200 if aligned else 503, states["time_alignment"])
    if path == "/alarms":
        return _json(200 if ready and activity == "green" and aligned else 503, states)
    if path == "/status":
        return _json(200, states)
    if path == "/metrics":
        return Response(200, CONTENT_TYPE_LATEST, metrics())
    return _json(404, {"error": f"no such endpoint {path}", "endpoints": list(ENDPOINTS)})


def _read_head(conn: socket.socket, head: bytes) -> bytes:
    """The request head, read before one deadline (the socket's timeout), however slowly it comes."""
    data = head
    timeout = conn.gettimeout()
    deadline = None if timeout is None else time.monotonic() + timeout
    while b"\r\n\r\n" not in data and b"\n\n" not in data and len(data) < MAX_HEAD:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break  # answered as cut short
            conn.settimeout(left)
        chunk = conn.recv(MAX_HEAD - len(data))
        if not chunk:
            break
        data += chunk
    return data


def serve(
    conn: socket.socket,
    head: bytes,
    node_id: str,
    alarms: Callable[[], Mapping[str, Any]],
    metrics: Callable[[], bytes],
) -> None:
    """Answer one HTTP request whose first bytes (head) were already read; the caller closes conn."""
    data = _read_head(conn, head)
    line = data.split(b"\n", 1)[0].decode("latin-1").strip()
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/") or not parts[1].startswith("/"):
        response = _json(400, {"error": "bad request line"})
    elif b"\r\n\r\n" not in data and b"\n\n" not in data:
        response = _json(400, {"error": f"request head above {MAX_HEAD} bytes or cut short"})
    else:
        response = answer(parts[1], node_id, alarms(), metrics)
    status = f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}\r\n"
    headers = (
        f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    body = b"" if parts and parts[0] == "HEAD" else response.body
    conn.sendall((status + headers).encode() + body)
    logger.debug("http %s -> %d", line[:100], response.status)
