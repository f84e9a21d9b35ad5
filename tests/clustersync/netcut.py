"""Cut TCP between two test members with iptables, in a chain of this test run's own.

The chain (SF19-<pid>) is reached from OUTPUT only for packets to or from 127.0.19.0/24 and
holds DROP rules for the given addresses and ports alone; the fixture removes the jumps, the
rules and the chain, also when the test fails. A member connects from the default loopback
source (127.0.0.1), so a member is cut off by its listening ports: every packet to them or
from them is dropped (loopback packets all pass OUTPUT: connects and replies alike).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

NET = "127.0.19.0/24"


def _ipt(*args: str, check: bool = True) -> None:
    subprocess.run(["iptables", "-w", "5", *args], check=check, capture_output=True, timeout=30)


class NetCut:
    """DROP rules between pairs of (address, ports), added and removed as a whole."""

    def __init__(self) -> None:
        self.chain = f"SF19-{os.getpid()}"

    def isolate(self, address: str, ports: list[int]) -> None:
        """Drop every packet to and from these listening ports of this address."""
        for port in ports:
            _ipt("-A", self.chain, "-d", address, "-p", "tcp", "--dport", str(port), "-j", "DROP")
            _ipt("-A", self.chain, "-s", address, "-p", "tcp", "--sport", str(port), "-j", "DROP")

    def heal(self) -> None:
        """Remove every rule of the chain (the jump stays)."""
        _ipt("-F", self.chain)


@pytest.fixture
def netcut() -> Iterator[NetCut]:
    cut = NetCut()
    jumps = [("OUTPUT", side, NET, "-p", "tcp", "-j", cut.chain) for side in ("-d", "-s")]
    _ipt("-N", cut.chain)
    try:
        for jump in jumps:
            _ipt("-I", *jump)
        yield cut
    finally:
        for jump in jumps:
            _ipt("-D", *jump, check=False)
        _ipt("-F", cut.chain, check=False)
        _ipt("-X", cut.chain, check=False)
