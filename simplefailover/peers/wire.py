"""The body of a peer message: one instance's view as compact JSON, and back. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..state import CheckKey, Status
from .consensus import PeerView

VERSION = 1


def encode_view(
    statuses: Mapping[CheckKey, Status],
    ready: bool,
    isolated: bool,
    digest: str,
    serial: int,
    control: list[dict[str, Any]] | None = None,
) -> bytes:
    """Encode a view; node ids are grouped by polling and status to keep datagrams small.

    `control` is the maintenance/pin map (simplefailover.control), sent with every view.
    """
    checks: dict[str, dict[str, list[str]]] = {}
    for (node_id, polling_id), status in sorted(statuses.items()):
        if status is not Status.UNKNOWN:
            checks.setdefault(polling_id, {}).setdefault(status.value, []).append(node_id)
    body = {
        "v": VERSION,
        "ready": ready,
        "isolated": isolated,
        "digest": digest,
        "serial": serial,
        "checks": checks,
    }
    if control:
        body["ctl"] = control
    return json.dumps(body, separators=(",", ":")).encode()


def control_of(body: bytes) -> Any:
    """The maintenance/pin map carried by a view (None when it has none); checked by its reader."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data.get("ctl") if isinstance(data, dict) else None


def decode_view(member: str, body: bytes, sent_at: float, received_at: float) -> PeerView:
    """Decode a view; raise ValueError saying what is wrong with it."""
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"view from {member} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise ValueError(f"view from {member}: not a version {VERSION} view")
    ready, isolated, digest, serial = (data.get(k) for k in ("ready", "isolated", "digest", "serial"))
    if not isinstance(ready, bool) or not isinstance(isolated, bool):
        raise ValueError(f"view from {member}: ready and isolated must be true or false")
    if not isinstance(digest, str) or not isinstance(serial, int) or not 0 <= serial <= 0xFFFFFFFF:
        raise ValueError(f"view from {member}: bad digest or serial")
    checks = data.get("checks")
    if not isinstance(checks, dict):
        raise ValueError(f"view from {member}: checks must be a mapping")
    statuses: dict[CheckKey, Status] = {}
    for polling_id, by_status in checks.items():
        if not isinstance(by_status, dict):
            raise ValueError(f"view from {member}: checks.{polling_id} must be a mapping")
        for value, node_ids in by_status.items():
            if value not in ("OK", "KO") or not isinstance(node_ids, list):
                raise ValueError(f"view from {member}: checks.{polling_id}.{value} is not OK/KO with a list")
            for node_id in node_ids:
                if not isinstance(node_id, str):
                    raise ValueError(f"view from {member}: node ids must be strings")
                statuses[(node_id, polling_id)] = Status(value)
    return PeerView(member, statuses, ready, isolated, digest, serial, sent_at, received_at)
