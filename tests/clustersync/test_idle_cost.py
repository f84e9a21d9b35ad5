"""Cost follows the changes, not the table: what a session reads does not grow with the table.

Counted in SQLite virtual-machine steps (a progress handler), not in time: finding what an
up-to-date peer lacks takes the same steps on 20,000 rows as on 100, with an idle origin
(a member that wrote once, long ago, and never since: the normal standby).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from clustersync.store.changes import FIRST_BATCH
from clustersync.store.database import Store

from .conftest import open_store, sync_one_way


def steps_to_find_nothing(src: Store, peer: dict[str, int]) -> int:
    count = [0]

    def step() -> int:
        count[0] += 1
        return 0

    with src.snapshot() as snap:
        snap.db.set_progress_handler(step, 10)
        assert list(snap.batches(peer, 1000)) == []
        snap.db.set_progress_handler(None, 0)
    return count[0]


def grow(a: Store, b: Store, rows: int) -> None:
    db = sqlite3.connect(a.path)
    with db:
        db.executemany("INSERT OR REPLACE INTO items (id, v) VALUES (?, 'x')", [(i,) for i in range(rows)])
    db.close()
    a.stamp()
    sync_one_way(a, b)
    sync_one_way(b, a)


def test_an_idle_session_reads_the_same_on_any_table_size(tmp_path: Path) -> None:
    a, b = open_store(tmp_path / "a.db", "a"), open_store(tmp_path / "b.db", "b")
    try:
        db = sqlite3.connect(b.path)  # b writes once, then never again: an idle origin
        with db:
            db.execute("INSERT INTO items (id, v) VALUES (-1, 'standby')")
        db.close()
        b.stamp()
        sync_one_way(b, a)
        grow(a, b, 100)
        small = steps_to_find_nothing(a, b.vector())
        grow(a, b, 20_000)
        large = steps_to_find_nothing(a, b.vector())
        assert b.vector() == a.vector() and set(a.vector()) == {"a", "b"}
        assert large <= small + 2, (small, large)
    finally:
        a.close()
        b.close()


def test_a_session_starts_with_a_small_batch_then_full_ones(tmp_path: Path) -> None:
    """The first batch is small (the peer applies it while the next is read), the rest full;
    every version once, in order."""
    a = open_store(tmp_path / "a.db", "a")
    db = sqlite3.connect(a.path)
    with db:
        db.executemany("INSERT INTO items (id, v) VALUES (?, 'x')", [(i,) for i in range(FIRST_BATCH + 1500)])
    db.close()
    a.stamp()
    with a.snapshot() as snap:
        sizes = [len(batch) for batch in snap.batches({}, 1000)]
        hlcs = [c.hlc for batch in snap.batches({}, 1000) for c in batch]
    assert sizes == [FIRST_BATCH, 1000, 500]
    assert hlcs == sorted(hlcs) and len(set(hlcs)) == FIRST_BATCH + 1500
    with a.snapshot() as snap:  # a batch size below it is kept from the first batch on
        assert {len(batch) for batch in snap.batches({}, 100)} == {100, 50}  # 17 full, then the rest
