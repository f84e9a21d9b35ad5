"""store/checkpoint.py: the log is copied into the database file by a thread of its own."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from clustersync.store import checkpoint

from ..support.bind import wait_until
from .conftest import content, open_store, sync_one_way


def _fill(path: Path, rows: int) -> None:
    db = sqlite3.connect(path)
    with db:
        db.executemany("INSERT INTO items (id, v) VALUES (?, ?)", ((i, "x" * 1000) for i in range(rows)))
    db.close()


def test_applied_rows_reach_the_database_file_through_the_checkpoint_thread(tmp_path: Path) -> None:
    source, target = open_store(tmp_path / "a.db", "a"), open_store(tmp_path / "b.db", "b")
    assert target.checkpoints.done == 0
    _fill(source.path, 6000)  # ~6 MB of rows: twice that in b's log, more than checkpoint.DUE
    source.stamp()
    before = (tmp_path / "b.db").stat().st_size
    sync_one_way(source, target)
    wait_until(lambda: target.checkpoints.done >= 1, 30, "a checkpoint by b's thread")
    assert (tmp_path / "b.db").stat().st_size > before + 6_000_000  # the rows are in the file itself
    assert content(target.path) == content(source.path)
    threads = [t for t in threading.enumerate() if t.name == "cs-checkpoint"]
    assert threads
    target.close()
    source.close()
    assert not any(t.is_alive() for t in threads)  # close stops the thread


def test_small_applies_start_no_thread_and_the_store_keeps_a_backstop(tmp_path: Path) -> None:
    """Below checkpoint.DUE nothing starts; the store's own automatic checkpoint (BACKSTOP
    pages) bounds the log whatever the thread does (an idle cluster runs no thread)."""
    source, target = open_store(tmp_path / "a.db", "a"), open_store(tmp_path / "b.db", "b")
    _fill(source.path, 100)
    source.stamp()
    sync_one_way(source, target)
    assert target.checkpoints.done == 0 and target.checkpoints._thread is None
    pages = target.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert pages == checkpoint.BACKSTOP
    target.close()
    source.close()
