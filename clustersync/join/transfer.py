"""A snapshot file over an authenticated channel, in checksummed chunks.

Each chunk is announced by a signed message (number, offset, size, SHA-256 of the bytes)
and its raw bytes follow on the same socket. The HMAC of the announcement covers the
checksum and the checksum covers the bytes, so the bulk needs no JSON or per-frame MAC:
it moves with sendfile and splice, never copied through Python, and each side hashes it
once from a map of its file (the two sides' hashing overlaps; hashlib releases the GIL).
The stream ends with the manifest: SHA-256 over every chunk's digest, the whole file's
checksum.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import select
import socket
from collections.abc import Callable

from ..core.errors import ProtocolError
from ..wire.protocol import Channel
from .snapshot import SnapshotFile, chunk_count, digest, manifest

logger = logging.getLogger(__name__)

_CORRUPTED: set[str] = set()  # test only: snapshots whose chunk was already altered once


class ChecksumError(ProtocolError):
    """A chunk, or the whole file, does not match its checksum."""


def send_chunks(
    ch: Channel,
    snap: SnapshotFile,
    start: int,
    check: Callable[[], str],
    drop_after: int = 0,
    corrupt: int = -1,
) -> bool:
    """Send chunks from number start to the end, then the manifest and check(); False if dropped (test).

    The bytes go with sendfile (no copy through Python) and are hashed from a read-only
    map of the file, so the member's CPU per GB is one SHA-256 pass.
    """
    sent = 0
    with open(snap.path, "rb", buffering=0) as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if len(m) != snap.size:
            raise ProtocolError(f"{snap.path}: {len(m)} bytes, {snap.size} expected")
        for index in range(start, chunk_count(snap.size, snap.chunk)):
            offset = index * snap.chunk
            size = min(snap.chunk, snap.size - offset)
            key = str(index)
            if key not in snap.digests:
                with memoryview(m) as view:
                    snap.digests[key] = digest(view[offset : offset + size])
            ch.send(
                {"type": "chunk", "index": index, "offset": offset, "size": size, "sha256": snap.digests[key]}
            )
            if drop_after and sent + size > drop_after:
                if drop_after > sent:  # count 0 would mean "to the end of the file"
                    ch.sock.sendfile(f, offset, drop_after - sent)
                logger.warning("TEST: dropping the join stream after %d bytes", drop_after)
                ch.sock.shutdown(socket.SHUT_RDWR)
                return False
            if index == corrupt and snap.id not in _CORRUPTED:
                _CORRUPTED.add(snap.id)
                data = bytearray(m[offset : offset + size])
                data[size // 2] ^= 0xFF
                logger.warning("TEST: altering chunk %d of snapshot %s once", index, snap.id)
                ch.sock.sendall(data)
            else:
                ch.sock.sendfile(f, offset, size)
            sent += size
    ch.send({"type": "end", "manifest": snap.manifest(), "check": check()})
    return True


class _Receiver:
    """Moves one chunk's bytes from the socket into the file at its offset, and hashes them.

    On Linux the bytes go socket -> pipe -> file with splice (no copy through Python) and
    are hashed from a map of the file; elsewhere through a buffer (recv_into, write).
    """

    def __init__(self, sock: socket.socket, fd: int, chunk: int) -> None:
        self.sock, self.fd = sock, fd
        self.timeout = sock.gettimeout()
        self.pipe: tuple[int, int] | None = None
        self.buffer: memoryview | None = None
        if hasattr(os, "splice"):
            self.pipe = os.pipe()
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(self.pipe[1], fcntl.F_SETPIPE_SZ, 1 << 20)
        else:
            self.buffer = memoryview(bytearray(chunk))

    def close(self) -> None:
        """Release the pipe."""
        if self.pipe:
            for end in self.pipe:
                os.close(end)

    def take(self, offset: int, size: int) -> str:
        """Receive size bytes into the file at offset; return their digest."""
        if self.pipe is None:
            assert self.buffer is not None
            data = self.buffer[:size]
            got = 0
            while got < size:
                n = self.sock.recv_into(data[got:])
                if not n:
                    raise ProtocolError("connection closed by the member in the middle of a chunk")
                got += n
            os.pwrite(self.fd, data, offset)
            return digest(data)
        read_end, write_end = self.pipe
        got = 0
        while got < size:
            try:
                n = os.splice(self.sock.fileno(), write_end, min(size - got, 1 << 20))
            except BlockingIOError:  # a socket with a timeout is non-blocking underneath
                if not select.select([self.sock], [], [], self.timeout)[0]:
                    raise TimeoutError(f"no data from the member for {self.timeout} s") from None
                continue
            if not n:
                raise ProtocolError("connection closed by the member in the middle of a chunk")
            moved = 0
            while moved < n:
                moved += os.splice(read_end, self.fd, n - moved, offset_dst=offset + got + moved)
            got += n
        base = offset - offset % mmap.ALLOCATIONGRANULARITY  # a map starts on a page boundary
        length = size + offset - base
        with mmap.mmap(self.fd, length, offset=base, access=mmap.ACCESS_READ) as m, memoryview(m) as view:
            return digest(view[offset - base :])


def receive_chunks(
    ch: Channel,
    fd: int,
    digests: list[str],
    size: int,
    chunk: int,
    on_chunk: Callable[[int], None],
) -> str:
    """Write verified chunks to fd (read-write) after the digests kept, until the end; check the manifest.

    digests holds the chunks already kept and grows with each verified one; on_chunk is
    called after each, with the bytes kept so far, to save the state and show progress.
    A chunk that fails its checksum is not kept (the next attempt truncates it away).
    Returns the member's SQLite quick_check verdict on the snapshot ("ok" or the problems).
    """
    receiver = _Receiver(ch.sock, fd, chunk)
    try:
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
            got = receiver.take(start, length)
            if got != message.get("sha256"):
                raise ChecksumError(
                    f"chunk {index} (bytes {start} to {start + length}): checksum mismatch "
                    f"(announced {str(message.get('sha256'))[:16]}..., received {got[:16]}...)"
                )
            digests.append(got)
            on_chunk(min(len(digests) * chunk, size))
    finally:
        receiver.close()
    if len(digests) != chunk_count(size, chunk):
        raise ProtocolError(f"the stream ended after {len(digests)} of {chunk_count(size, chunk)} chunks")
    if manifest(digests) != message.get("manifest"):
        raise ChecksumError("whole-file checksum mismatch: the snapshot must be fetched again")
    return str(message.get("check"))
