"""Signed peer messages: wrong secret, altered bytes, stale or future timestamps, replays, size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simplefailover.peers.auth import MAX_MESSAGE, AuthError, ReplayGuard, open_sealed, seal
from simplefailover.peers.wire import decode_view, encode_view
from simplefailover.state import Status

SECRET = b"0123456789abcdef-cluster-secret"


def test_round_trip() -> None:
    data = seal(SECRET, "node-a", b'{"x":1}', now=1000.0)
    opened = open_sealed(SECRET, data, now=1010.0, guard=ReplayGuard())
    assert (opened.sender, opened.sent_at, opened.body) == ("node-a", 1000.0, b'{"x":1}')


def test_wrong_secret_refused() -> None:
    data = seal(b"another secret of some length", "node-a", b"{}", now=1000.0)
    with pytest.raises(AuthError, match="bad signature"):
        open_sealed(SECRET, data, now=1000.0, guard=ReplayGuard())


@given(st.data())
def test_any_altered_byte_is_refused(data: st.DataObject) -> None:
    sealed = bytearray(seal(SECRET, "node-a", b'{"serial":5}', now=1000.0))
    index = data.draw(st.integers(0, len(sealed) - 1))
    sealed[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(AuthError):
        open_sealed(SECRET, bytes(sealed), now=1000.0, guard=ReplayGuard())


@pytest.mark.parametrize("skew", [-30.5, 31.0, float("inf")])
def test_timestamp_out_of_window_refused(skew: float) -> None:
    data = seal(SECRET, "node-a", b"{}", now=1000.0 + skew)
    with pytest.raises(AuthError, match="timestamp"):
        open_sealed(SECRET, data, now=1000.0, guard=ReplayGuard())


def test_replay_refused_and_distinct_nonces_accepted() -> None:
    guard = ReplayGuard()
    first = seal(SECRET, "node-a", b"{}", now=1000.0)
    open_sealed(SECRET, first, now=1000.0, guard=guard)
    with pytest.raises(AuthError, match="replayed"):
        open_sealed(SECRET, first, now=1001.0, guard=guard)
    open_sealed(SECRET, seal(SECRET, "node-a", b"{}", now=1000.0), now=1001.0, guard=guard)


def test_guard_forgets_only_out_of_window_nonces() -> None:
    guard = ReplayGuard(window=30, limit=100)
    for i in range(100):
        assert guard.admit("a", i.to_bytes(16, "big"), sent_at=1000.0, now=1000.0)
    assert not guard.admit("a", b"x" * 16, 1000.0, 1000.0)  # full of fresh nonces: refuse
    assert guard.admit("a", b"y" * 16, 1100.0, 1100.0)  # the old ones expired and were pruned
    assert not guard.admit("a", b"y" * 16, 1100.0, 1100.0)


def test_garbage_and_oversize_refused() -> None:
    for data in (b"", b"hello", b"SFP1" + b"\0" * 60, b"x" * (MAX_MESSAGE + 1)):
        with pytest.raises(AuthError):
            open_sealed(SECRET, data, now=0.0, guard=ReplayGuard())
    with pytest.raises(ValueError, match="limit"):
        seal(SECRET, "a", b"x" * MAX_MESSAGE, now=0.0)


def test_view_round_trip() -> None:
    statuses = {("n1", "p1"): Status.OK, ("n2", "p1"): Status.KO, ("n3", "p2"): Status.UNKNOWN}
    body = encode_view(statuses, True, False, "abc", 42)
    view = decode_view("node-a", body, 1.0, 2.0)
    assert view.statuses == {("n1", "p1"): Status.OK, ("n2", "p1"): Status.KO}
    assert (view.member, view.ready, view.isolated, view.digest, view.serial) == (
        "node-a",
        True,
        False,
        "abc",
        42,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"v":2}',
        b'{"v":1,"ready":1,"isolated":false,"digest":"","serial":0,"checks":{}}',
        b'{"v":1,"ready":true,"isolated":false,"digest":"","serial":-1,"checks":{}}',
        b'{"v":1,"ready":true,"isolated":false,"digest":"","serial":0,"checks":{"p":{"MAYBE":["n"]}}}',
        b'{"v":1,"ready":true,"isolated":false,"digest":"","serial":0,"checks":{"p":{"OK":[1]}}}',
    ],
)
def test_bad_view_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match="view from node-a"):
        decode_view("node-a", body, 1.0, 2.0)
