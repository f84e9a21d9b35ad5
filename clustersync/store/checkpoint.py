"""Copying the write-ahead log into the database file on a thread of its own.

In WAL mode SQLite copies the log back into the database file (a checkpoint) when a commit
leaves it above 1,000 pages, in the committing thread: an apply batch then also writes
megabytes into the database file and fsyncs it before the session reads the next batch
(measured: 40 % of COMMIT's time, about 1.4 us of the 16 us an applied row takes). The
store's connection leaves that to a Checkpointer: told how much each apply wrote, it runs
a PASSIVE checkpoint (it never waits for readers or writers) on its own connection once
about as much as SQLite's threshold has accumulated, while the apply goes on (SQLite works
without the GIL, so on another core). The store's connection keeps an automatic checkpoint
at BACKSTOP pages, in case this thread falls behind (a reader holding an old snapshot) or
for writes it is not told of; the application's connections keep their own.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)

DUE = 4 << 20  # bytes written since the last checkpoint that make the next one due (~1,000 pages)
BACKSTOP = 4000  # pages: the store's own connection checkpoints past this (SQLite's default: 1,000)


class Checkpointer:
    """Runs PASSIVE checkpoints of one database on a thread, when enough was written."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = 0  # checkpoints run (for tests and status)
        self._written = 0
        self._due = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wrote(self, size: int) -> None:
        """About size bytes were committed to the log: checkpoint once DUE have been."""
        with self._lock:
            self._written += size
            if self._written < DUE or self._stop.is_set():
                return
            self._written = 0
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cs-checkpoint", daemon=True)
                self._thread.start()
        self._due.set()

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join(30)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA synchronous=FULL")  # the database file synced before the log is reused
            while True:
                self._due.wait()
                self._due.clear()
                if self._stop.is_set():
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.done += 1
                except sqlite3.Error as exc:  # the store's own automatic checkpoint still runs
                    logger.warning("checkpoint of %s failed: %s", self.path, exc)
        finally:
            db.close()
