"""Frames: a message larger than a frame goes in pieces; a frame's header is checked before its body."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersync.core.errors import ProtocolError
from clustersync.wire.protocol import MAC, Channel

KEY = b"k" * 32


@pytest.fixture
def pair() -> Iterator[tuple[Channel, Channel]]:
    a, b = socket.socketpair()
    for sock in (a, b):
        sock.settimeout(5)
    yield Channel(a, KEY, False, 65536), Channel(b, KEY, True, 65536)
    a.close()
    b.close()


def test_a_message_larger_than_a_frame_goes_in_pieces(pair: tuple[Channel, Channel]) -> None:
    client, server = pair
    text = "x" * (3 << 20) + '"\\\u00e9'

    sender = threading.Thread(target=client.send, args=({"type": "big", "text": text},))
    sender.start()
    message = server.recv()
    sender.join()
    assert message["text"] == text
    assert client._out_seq > 48  # at most max_message bytes per frame
    client.send({"type": "small"})  # and the sequence goes on
    assert server.recv()["type"] == "small"


def test_a_forged_header_is_refused_before_its_body_is_read(pair: tuple[Channel, Channel]) -> None:
    client, server = pair
    # A header announcing 60 KiB whose MAC is wrong, and no body: refused at once (a read of
    # the body would wait for the 5 s timeout instead).
    client.sock.sendall(struct.pack(">I", 60000) + b"\x01" * (2 * MAC))
    with pytest.raises(ProtocolError, match="authentication failed"):
        server.recv()


def test_an_authenticated_frame_above_the_limit_is_refused(pair: tuple[Channel, Channel]) -> None:
    client, server = pair
    client.max_message = 1 << 20  # the sender's limit is larger than the receiver's
    client.send({"type": "big", "text": "y" * 200_000})
    with pytest.raises(ProtocolError, match="refused \\(limit 65536\\)"):
        server.recv()


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 200_000), min_size=1, max_size=4))
def test_messages_of_any_size_arrive_whole_and_in_order(sizes: list[int]) -> None:
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    client, server = Channel(a, KEY, False, 65536), Channel(b, KEY, True, 65536)

    try:
        texts = [chr(65 + i) * n for i, n in enumerate(sizes)]
        sender = threading.Thread(target=lambda: [client.send({"type": "m", "t": t}) for t in texts])
        sender.start()
        assert [server.recv()["t"] for _ in texts] == texts
        sender.join()
    finally:
        a.close()
        b.close()
