"""A snapshot file over an authenticated channel, in checksummed chunks.

Each chunk is announced by a signed message (number, offset, size, SHA-256 of the bytes)
and its raw bytes follow on the same socket. The HMAC of the announcement covers the
checksum and the checksum covers the bytes, so the bulk needs no JSON or per-frame MAC and
moves with large sendall/recv_into calls; both sides hash on the fly (hashlib releases the
GIL, so the sender's and the receiver's hashing overlap). The stream ends with the
manifest: SHA-256 over every chunk's digest, the whole file's checksum.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import BinaryIO

from .errors import ProtocolError
from .protocol import Channel
from .snapshot import SnapshotFile, chunk_count, digest, manifest

logger = logging.getLogger(__name__)

_CORRUPTED: set[str] = set()  # test only: snapshots whose chunk was already altered once


class ChecksumError(ProtocolError):
    """A chunk, or the whole file, does not match its checksum."""


def send_chunks(ch: Channel, snap: SnapshotFile, start: int, drop_after: int = 0, corrupt: int = -1) -> bool:
    """Send chunks from number start to the end, then the manifest; False if dropped (test setting)."""
    view = memoryview(bytearray(snap.chunk))
    sent = 0
    with open(snap.path, "rb", buffering=0) as f:
        f.seek(start * snap.chunk)
        for index in range(start, chunk_count(snap.size, snap.chunk)):
            size = min(snap.chunk, snap.size - index * snap.chunk)
            got = 0
            while got < size:
                n = f.readinto(view[got:size])
                if not n:
                    raise ProtocolError(f"{snap.path}: snapshot shorter than {snap.size} bytes")
                got += n
            data: memoryview | bytearray = view[:size]
            key = str(index)
            if key not in snap.digests:
                snap.digests[key] = digest(data)
            if index == corrupt and snap.id not in _CORRUPTED:
                _CORRUPTED.add(snap.id)
                data = bytearray(data)
                data[size // 2] ^= 0xFF
                logger.warning("TEST: altering chunk %d of snapshot %s once", index, snap.id)
            ch.send({"type": "chunk", "index": index, "offset": index * snap.chunk, "size": size,
                     "sha256": snap.digests[key]})  # fmt: skip
            if drop_after and sent + size > drop_after:
                ch.sock.sendall(data[: drop_after - sent])
                logger.warning("TEST: dropping the join stream after %d bytes", drop_after)
                ch.sock.shutdown(socket.SHUT_RDWR)
                return False
            ch.sock.sendall(data)
            sent += size
    ch.send({"type": "end", "manifest": snap.manifest()})
    return True


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if not n:
            raise ProtocolError("connection closed by the member in the middle of a chunk")
        got += n


def receive_chunks(
    ch: Channel,
    out: BinaryIO,
    digests: list[str],
    size: int,
    chunk: int,
    on_chunk: Callable[[int], None],
) -> None:
    """Append verified chunks to out (positioned after the digests kept) until the end; check the manifest.

    digests holds the chunks already kept and grows with each verified one; on_chunk is
    called after each, with the bytes kept so far, to save the state and show progress.
    """
    view = memoryview(bytearray(chunk))
    while True:
        message = ch.expect("chunk", "end")
        if message["type"] == "end":
            break
        index, offset = message.get("index"), message.get("offset")
        expected = len(digests)
        start, length = expected * chunk, min(chunk, size - expected * chunk)
        if (index, offset, message.get("size")) != (expected, start, length) or length <= 0:
            raise ProtocolError(
                f"chunk {index} at {offset} ({message.get('size')} bytes), expected chunk {expected}"
            )
        data = view[:length]
        _recv_into(ch.sock, data)
        got = digest(data)
        if got != message.get("sha256"):
            raise ChecksumError(
                f"chunk {index} (bytes {start} to {start + length}): checksum mismatch "
                f"(announced {str(message.get('sha256'))[:16]}..., received {got[:16]}...)"
            )
        out.write(data)
        digests.append(got)
        on_chunk(min(len(digests) * chunk, size))
    if len(digests) != chunk_count(size, chunk):
        raise ProtocolError(f"the stream ended after {len(digests)} of {chunk_count(size, chunk)} chunks")
    if manifest(digests) != message.get("manifest"):
        raise ChecksumError("whole-file checksum mismatch: the snapshot must be fetched again")
