"""Notice that the config file changed on disk, so the service reloads it as on SIGHUP (SPEC X-1)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

Fingerprint = tuple[int, int, int] | None  # (mtime ns, size, inode); None: cannot be read


class ConfigWatch:
    """Compare the file's fingerprint at each look; report a change once it has settled.

    Editors save in steps (truncate, write, rename), so a new fingerprint counts only when the
    next look sees the same one: a reload never reads a half-written file on purpose.
    """

    def __init__(self, path: Path, stat: Callable[[Path], os.stat_result] = os.stat) -> None:
        self._path = path
        self._stat = stat
        self._seen = self._fingerprint()
        self._pending: Fingerprint = None

    def _fingerprint(self) -> Fingerprint:
        try:
            st = self._stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def settle(self) -> None:
        """Take the file as it is now as known (after a reload made for another reason)."""
        self._seen, self._pending = self._fingerprint(), None

    def changed(self) -> bool:
        """True once per settled change of the file; a missing file is not a change."""
        now = self._fingerprint()
        if now is None or now == self._seen:
            self._pending = None
            return False
        if now != self._pending:
            self._pending = now  # look once more before believing it
            return False
        self._seen, self._pending = now, None
        return True
