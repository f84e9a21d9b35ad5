"""Free ports for launchers (the demo, the tests), chosen outside the kernel's ephemeral range.

A launcher picks a port, writes it into a config, and a process binds it later (and binds it
again when restarted). A port found by binding port 0 lies in the ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range), which the kernel hands out on its own to every
socket bound to port 0 and to every connect() without a source port: in the time between
the pick and the bind, any of those can take it ("address already in use"). Ports below
that range (and above it) are never handed out by the kernel, so a port picked there stays
free unless another program names that very port. Picks are spread at random, so that
launchers running at the same time rarely try the same one, and never repeated within one
process.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Sequence
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_DEFAULT_RANGE = (32768, 60999)
LOWEST = 10000  # below: the registered ports of well-known services (PostgreSQL, BIND's rndc...)

_given: set[int] = set()  # every port this process has handed out
_lock = threading.Lock()
_random = random.Random()  # its own state: hypothesis seeds the global one, identically in every run


def ephemeral_range(path: Path = EPHEMERAL_RANGE) -> tuple[int, int]:
    """The kernel's ephemeral port range, both ends included (Linux's default when unreadable)."""
    try:
        low, high = (int(field) for field in path.read_text().split())
    except (OSError, ValueError):
        return LINUX_DEFAULT_RANGE
    return low, high


def candidates(ephemeral: tuple[int, int]) -> range | list[int]:
    """The ports a launcher may pick: from LOWEST up, minus the ephemeral range.

    When the ephemeral range leaves fewer than 1000 of them, every port from LOWEST up.
    """
    low, high = ephemeral
    outside = [*range(LOWEST, max(LOWEST, low)), *range(max(LOWEST, high + 1), 65536)]
    return outside if len(outside) >= 1000 else range(LOWEST, 65536)


def free_port(hosts: Sequence[str], udp: bool = False, taken: set[int] | None = None) -> int:
    """A port free for TCP (and UDP when asked) on every one of hosts right now.

    Outside the ephemeral range, never one this process handed out before, nor one in taken
    (the port is then added to it).
    """
    taken = taken if taken is not None else set()
    pool = candidates(ephemeral_range())
    with _lock:
        for _ in range(500):
            port = _random.choice(pool)
            if port in _given or port in taken:
                continue
            if all(_bindable(host, port, udp) for host in hosts):
                _given.add(port)
                taken.add(port)
                return port
    raise RuntimeError(f"no port free on all of {', '.join(hosts)}")


def _bindable(host: str, port: int, udp: bool) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    for kind in kinds:
        with socket.socket(family, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True
