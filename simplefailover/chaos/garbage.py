"""Bad input during the drill (SPEC X-5): random bytes, oversized and truncated messages.

Sent to every port a node listens on: DNS (UDP and TCP), the peers' UDP port, clustersync's
control and data ports, the dashboard and the app. Nothing may die of it and no data may be
lost: the drill's other checks see to that.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import struct
from dataclasses import dataclass

from ..demo.layout import DemoNodeSpec, Layout

logger = logging.getLogger(__name__)

MAX_GARBAGE = 4096  # bytes of one random message


@dataclass(frozen=True)
class Target:
    """One listening port of one node."""

    name: str
    address: str
    port: int
    udp: bool


def targets(layout: Layout, node: DemoNodeSpec) -> list[Target]:
    """Every port of one node that takes input from the network."""
    p, a = node.ports, node.address
    return [
        Target("dns/udp", a, p.dns, True),
        Target("dns/tcp", a, p.dns, False),
        Target("peers/udp", a, p.peers, True),
        Target("clustersync control", a, p.control, False),
        Target("clustersync data", a, p.data, False),
        Target("dashboard", a, p.dashboard, False),
        Target("app", a, layout.http_port, False),
    ]


def payload(rng: random.Random) -> bytes:
    """Random bytes, a huge announced length, a truncated frame or an endless header line."""
    choice = rng.randrange(4)
    if choice == 0:
        return rng.randbytes(rng.randrange(1, MAX_GARBAGE))
    if choice == 1:  # a length prefix announcing far more than anyone accepts
        return struct.pack("!I", 0xFFFFFFF0) + rng.randbytes(64)
    if choice == 2:  # a frame cut short
        return struct.pack("!I", 1000) + rng.randbytes(10)
    return b"GET /" + b"A" * rng.randrange(1000, 70000) + b" HTTP/1.1\r\n"


def send(target: Target, data: bytes, timeout: float = 0.5) -> None:
    """Throw data at a target and go; a refused or reset connection is fine."""
    try:
        if target.udp:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(data[:65000], (target.address, target.port))
            return
        with socket.create_connection((target.address, target.port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(data)
            with contextlib.suppress(OSError):
                sock.recv(4096)  # whatever it answers, if anything
    except OSError as exc:
        logger.debug("garbage to %s %s:%d: %s", target.name, target.address, target.port, exc)
