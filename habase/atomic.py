"""The one atomic file write: readers see the old file or the whole new one, also after a crash.

The data goes to a temporary file beside the target, which is synced, renamed over the target,
and the folder synced, so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


def sync_folder(folder: Path) -> None:
    """Make the entries of folder (a rename into it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path, *, mode: int | None = None, durable: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces path when the block ends without an error.

    mode: the file's permissions (the file is private until then); None: 0o666 less the umask,
    as open() does. durable=False skips the syncs, for a file rewritten every few seconds whose
    loss in a crash costs nothing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread: two writers of the same file never share a temporary.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if mode is not None else 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            fd = -1  # the file object owns it now
            yield file
            file.flush()
            if durable:
                os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        sync_folder(path.parent)


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None, durable: bool = True) -> None:
    """Replace path with data (str: UTF-8) atomically and, unless durable=False, durably."""
    with atomic_file(path, mode=mode, durable=durable) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)


def read_mapping(path: Path) -> dict[str, Any] | None:
    """The JSON object a writer left in path, or None when there is none (missing, unreadable, not one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
