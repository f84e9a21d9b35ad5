"""The launchers' port chooser: free ports outside the kernel's ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from habase import ports
from habase.ports import candidates, ephemeral_range, free_port

HOSTS = ["127.0.31.1", "127.0.31.2"]


def test_ports_are_outside_the_ephemeral_range_distinct_and_free_on_every_host() -> None:
    low, high = ephemeral_range()
    picked = [free_port(HOSTS, udp=True) for _ in range(200)]
    assert len(set(picked)) == len(picked)
    assert not any(low <= port <= high for port in picked)
    for port in picked[:20]:
        for host in HOSTS:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as sock:
                    sock.bind((host, port))


def test_a_port_bound_on_one_host_is_not_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind((HOSTS[1], free_port(HOSTS[1:])))
        busy.listen(1)
        port = busy.getsockname()[1]
        monkeypatch.setattr(ports, "_given", set())  # as if another program had chosen it
        monkeypatch.setattr(ports, "candidates", lambda ephemeral: [port, port + 1])
        assert free_port(HOSTS) == port + 1


def test_taken_ports_are_skipped_and_recorded() -> None:
    taken: set[int] = set()
    first = free_port(HOSTS[:1], taken=taken)
    assert taken == {first}
    assert free_port(HOSTS[:1], taken=taken) != first and len(taken) == 2


def test_the_range_is_read_from_proc(tmp_path: Path) -> None:
    path = tmp_path / "range"
    path.write_text("40000\t50000\n")
    assert ephemeral_range(path) == (40000, 50000)
    assert ephemeral_range(tmp_path / "missing") == ports.LINUX_DEFAULT_RANGE


@given(st.integers(1024, 65535), st.integers(1024, 65535))
def test_candidates_avoid_the_ephemeral_range_when_enough_remain(a: int, b: int) -> None:
    low, high = min(a, b), max(a, b)
    pool = set(candidates((low, high)))
    outside = set(range(ports.LOWEST, 65536)) - set(range(low, high + 1))
    if len(outside) >= 1000:
        assert pool == outside
    else:  # a range covering (nearly) everything: any port from LOWEST up
        assert pool == set(range(ports.LOWEST, 65536))
