"""The UDP exchange on loopback: delivery, and garbage, forgeries and replays refused."""

from __future__ import annotations

import queue
import socket
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from simplefailover.peers.auth import Opened, seal
from simplefailover.peers.exchange import PeerExchange

from .cluster import free_port

SECRET = b"a-shared-secret-of-32-bytes-long"


class Side:
    """One exchange and what it received and counted."""

    def __init__(
        self, me: str, at: tuple[str, int], peers: dict[str, tuple[str, int]], drop: bool = False
    ) -> None:
        self.inbox: queue.Queue[Opened] = queue.Queue()
        self.counts: Counter[str] = Counter()
        self.exchange = PeerExchange(me, at, peers, SECRET, lambda m, _: self.inbox.put(m), self.count, drop)

    def count(self, outcome: str) -> None:
        self.counts[outcome] += 1

    def wait_count(self, outcome: str, at_least: int, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while self.counts[outcome] < at_least:
            assert time.monotonic() < deadline, f"{outcome}: {self.counts}"
            time.sleep(0.01)


def make_pair(drop_a: bool = False) -> tuple[Side, Side]:
    at_a, at_b = ("127.0.0.90", free_port("127.0.0.90")), ("127.0.0.91", free_port("127.0.0.91"))
    return Side("a", at_a, {"b": at_b}, drop_a), Side("b", at_b, {"a": at_a})


@pytest.fixture
def pair() -> Iterator[tuple[Side, Side]]:
    a, b = make_pair()
    a.exchange.start()
    b.exchange.start()
    try:
        yield a, b
    finally:
        a.exchange.stop()
        b.exchange.stop()


def test_views_delivered_both_ways(pair: tuple[Side, Side]) -> None:
    a, b = pair
    b.exchange.send(b'{"hello":1}')
    message = a.inbox.get(timeout=5)
    assert (message.sender, message.body) == ("b", b'{"hello":1}')
    a.exchange.send(b"{}", to="b")
    assert b.inbox.get(timeout=5).sender == "a"


def raw(data: bytes, to: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.92", 0))
        sock.sendto(data, to)


def test_garbage_forgery_replay_and_strangers_refused(pair: tuple[Side, Side]) -> None:
    a, b = pair
    target = a.exchange.address
    raw(b"\x00garbage", target)
    raw(seal(b"the-wrong-secret-of-some-length", "b", b"{}", time.time()), target)
    raw(seal(SECRET, "b", b"{}", time.time() - 120), target)  # stale
    raw(seal(SECRET, "mallory", b"{}", time.time()), target)  # signed, but not a member
    genuine = seal(SECRET, "b", b'{"n":1}', time.time())
    raw(genuine, target)
    raw(genuine, target)  # the same datagram again: a replay
    a.wait_count("rejected", 5)
    assert a.inbox.get(timeout=5).body == b'{"n":1}'
    assert a.inbox.empty() and a.counts["accepted"] == 1
    b.exchange.send(b"{}")  # still serving after all that
    assert a.inbox.get(timeout=5).sender == "b"


def test_drop_setting_cuts_an_instance_off() -> None:
    a, b = make_pair(drop_a=True)
    a.exchange.start()
    b.exchange.start()
    try:
        b.exchange.send(b"{}")
        a.wait_count("dropped", 1)
        assert a.inbox.empty()
    finally:
        a.exchange.stop()
        b.exchange.stop()
