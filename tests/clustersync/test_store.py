"""Change capture, versioning and apply on real SQLite files (no sockets)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clustersync.core.errors import SchemaError
from clustersync.store.database import Store

from .conftest import content, open_store, sync_one_way


def write(path: Path, sql: str, *params: object) -> None:
    """Write with a plain connection, as an application would."""
    db = sqlite3.connect(path)
    with db:
        db.execute(sql, params)
    db.close()


def test_writes_from_another_process_are_captured(tmp_path: Path) -> None:
    a = open_store(tmp_path / "a.db", "a")
    # A process that knows nothing of clustersync, with plain SQL.
    script = (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
        "db.execute(\"INSERT INTO items (id, v) VALUES (1, 'one')\"); "
        "db.execute(\"INSERT INTO pairs VALUES ('x', 2, 'p')\"); db.commit()"
    )
    subprocess.run([sys.executable, "-c", script, str(a.path)], check=True)
    assert a.pending() == 2
    stamped = a.stamp()
    assert {(c.tbl, c.pk) for c in stamped} == {("items", "[1]"), ("pairs", '["x",2]')}
    assert a.vector() == {"a": stamped[-1].hlc}
    assert a.pending() == 0


def test_rolled_back_write_is_not_captured(tmp_path: Path) -> None:
    a = open_store(tmp_path / "a.db", "a")
    db = sqlite3.connect(a.path)
    db.execute("INSERT INTO items (id, v) VALUES (1, 'x')")
    db.rollback()
    db.close()
    assert a.pending() == 0


def test_applied_rows_are_not_captured_again(tmp_path: Path) -> None:
    a = open_store(tmp_path / "a.db", "a")
    b = open_store(tmp_path / "b.db", "b")
    write(a.path, "INSERT INTO items (id, v, b) VALUES (1, 'one', x'00ff')")
    a.stamp()
    sync_one_way(a, b)
    assert b.pending() == 0
    assert b.stamp() == []
    assert content(b.path) == {1: (1, "one", None, b"\x00\xff")}
    assert b.vector() == a.vector()


def test_update_of_primary_key_deletes_old_row_everywhere(tmp_path: Path) -> None:
    a = open_store(tmp_path / "a.db", "a")
    b = open_store(tmp_path / "b.db", "b")
    write(a.path, "INSERT INTO items (id, v) VALUES (1, 'one')")
    a.stamp()
    sync_one_way(a, b)
    write(a.path, "UPDATE items SET id = 2 WHERE id = 1")
    changes = a.stamp()
    assert [(c.pk, c.deleted) for c in changes] == [("[1]", True), ("[2]", False)]
    sync_one_way(a, b)
    assert content(b.path) == {2: (2, "one", None, None)}


def test_concurrent_updates_keep_the_loser_in_conflicts(tmp_path: Path) -> None:
    a = open_store(tmp_path / "a.db", "a")
    b = open_store(tmp_path / "b.db", "b")
    write(a.path, "INSERT INTO items (id, v) VALUES (1, 'base')")
    a.stamp()
    sync_one_way(a, b)
    write(a.path, "UPDATE items SET v = 'from a' WHERE id = 1")
    write(b.path, "UPDATE items SET v = 'from b' WHERE id = 1")
    va, vb = a.stamp()[0], b.stamp()[0]
    sync_one_way(a, b)
    sync_one_way(b, a)
    winner = "from a" if (va.hlc, va.origin) > (vb.hlc, vb.origin) else "from b"
    assert content(a.path) == content(b.path) == {1: (1, winner, None, None)}
    for store in (a, b):
        rows = store.db.execute("SELECT data FROM _cs_conflicts").fetchall()
        assert len(rows) == 1 and winner not in rows[0][0]
    # A plain later update (its writer had seen the current version) is no conflict.
    write(b.path, "UPDATE items SET v = 'later' WHERE id = 1")
    b.stamp()
    sync_one_way(b, a)
    assert a.counter("conflicts") == 1


def test_unstamped_local_write_competes_with_incoming(tmp_path: Path) -> None:
    a = open_store(tmp_path / "a.db", "a")
    b = open_store(tmp_path / "b.db", "b")
    write(a.path, "INSERT INTO items (id, v) VALUES (1, 'old from a')")
    a.stamp()
    write(b.path, "INSERT INTO items (id, v) VALUES (1, 'newer on b')")  # not yet versioned
    sync_one_way(a, b)
    # b's write got its version before a's arrived, and it is the later one.
    assert content(b.path)[1][1] == "newer on b"


def test_missing_table_and_missing_primary_key_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE nokey (a TEXT, b TEXT)")
    db.commit()
    db.close()
    with pytest.raises(SchemaError, match=r"'nokey'.*has no primary key"):
        Store(path, "a", ["nokey"])
    with pytest.raises(SchemaError, match=r"'ghost'.*does not exist"):
        Store(path, "a", ["ghost"])


def test_wal_mode_and_local_tables_stay_local(tmp_path: Path) -> None:
    a = open_store(tmp_path / "a.db", "a")
    b = open_store(tmp_path / "b.db", "b")
    assert a.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    write(a.path, "INSERT INTO local_settings VALUES ('smtp', 'a-only')")
    assert a.stamp() == []
    sync_one_way(a, b)
    assert content(b.path, "local_settings") == {}


def test_hlc_survives_a_restart(tmp_path: Path) -> None:
    a = open_store(tmp_path / "a.db", "a")
    write(a.path, "INSERT INTO items (id, v) VALUES (1, 'x')")
    first = a.stamp()[0].hlc
    a.close()
    again = Store(tmp_path / "a.db", "a", ["items", "pairs"], clock=lambda: 0.0)  # clock far behind
    write(again.path, "UPDATE items SET v = 'y'")
    assert again.stamp()[0].hlc > first


def test_gc_drops_tombstones_every_member_has(tmp_path: Path) -> None:
    from clustersync.store.database import Member

    a = open_store(tmp_path / "a.db", "a")
    b = open_store(tmp_path / "b.db", "b")
    for i, store in enumerate((a, b)):
        a.add_member(Member(store.node_id, "127.0.0.1", 1, 2, i + 1, "0.1.0"))
    write(a.path, "INSERT INTO items (id, v) VALUES (1, 'x')")
    a.stamp()
    write(a.path, "DELETE FROM items WHERE id = 1")
    a.stamp()
    assert a.gc() == 0  # b has not been heard of yet
    sync_one_way(a, b)
    a.learn(b.known())
    assert a.gc() == 1
    assert a.db.execute("SELECT count(*) FROM _cs_rows WHERE deleted = 1").fetchone()[0] == 0


def sharing_one_row(tmp_path: Path) -> tuple[Store, Store, float]:
    """Members a and b, both holding row 1 ('base', 7) written on a; from now on a's clock
    reads t + 10 and b's t + 11 (b writes later by the hybrid clock). Returns a, b, t."""
    a = open_store(tmp_path / "a.db", "a")
    b = open_store(tmp_path / "b.db", "b")
    write(a.path, "INSERT INTO items (id, v, n) VALUES (1, 'base', 7)")
    a.stamp()
    sync_one_way(a, b)
    t = time.time()
    a.clock, b.clock = (lambda: t + 10), (lambda: t + 11)
    return a, b, t


def test_a_later_update_beats_an_earlier_delete_it_had_not_seen(tmp_path: Path) -> None:
    # The network drill's finding (seed 102), on real databases: a deletes, then b, which had
    # not heard of the delete, updates the row later by the hybrid clock.
    a, b, t = sharing_one_row(tmp_path)
    write(a.path, "DELETE FROM items WHERE id = 1")
    a.stamp()
    clocks = a.db.execute("SELECT deleted, clocks FROM _cs_rows").fetchone()
    assert clocks[0] == 1 and "base" in clocks[1]  # the tombstone keeps the row's values
    write(b.path, "UPDATE items SET v = 'later on b' WHERE id = 1")
    b.stamp()
    sync_one_way(a, b)
    sync_one_way(b, a)
    assert content(a.path) == content(b.path) == {1: (1, "later on b", 7.0, None)}
    kinds = {k for s in (a, b) for (k,) in s.db.execute("SELECT kind FROM _cs_conflicts")}
    assert kinds == {"delete"}
    # Deleted again, later: gone everywhere, and the tombstone is collected as before.
    write(a.path, "DELETE FROM items WHERE id = 1")
    a.clock = lambda: t + 12
    a.stamp()
    sync_one_way(a, b)
    assert content(a.path) == content(b.path) == {}


def test_an_old_row_update_later_than_a_re_insert_wins_its_column(tmp_path: Path) -> None:
    # The network drill's finding (seeds 107, 108): a deletes and re-inserts; b updates the
    # row it had (the older one) later by the hybrid clock: b's column wins, the rest is a's.
    a, b, _ = sharing_one_row(tmp_path)
    write(a.path, "DELETE FROM items WHERE id = 1")
    a.stamp()
    write(a.path, "INSERT INTO items (id, v, n) VALUES (1, 'again', 8)")
    a.stamp()
    write(b.path, "UPDATE items SET v = 'later on b' WHERE id = 1")
    b.stamp()
    sync_one_way(b, a)
    sync_one_way(a, b)
    assert content(a.path) == content(b.path) == {1: (1, "later on b", 8.0, None)}
    logged = {(k, c) for s in (a, b) for k, c in s.db.execute("SELECT kind, col FROM _cs_conflicts")}
    assert logged == {("column", "v")}  # a's re-inserted value of v, overwritten unseen


def test_an_insert_and_delete_between_two_stamps_still_deletes_later_writes(tmp_path: Path) -> None:
    # The network drill's finding (seed 107 with per-column LWW): b's clustersync was down
    # while its app inserted a deleted row again and deleted it; a re-inserted the row
    # meanwhile, earlier than b's delete. The delete is the later write: no row.
    a = open_store(tmp_path / "a.db", "a")
    b = open_store(tmp_path / "b.db", "b")
    write(a.path, "INSERT INTO items (id, v) VALUES (1, 'base')")
    write(a.path, "INSERT INTO items (id, v) VALUES (2, 'other')")
    a.stamp()
    write(a.path, "DELETE FROM items WHERE id = 1")
    a.stamp()
    sync_one_way(a, b)
    t = time.time()
    a.clock, b.clock = (lambda: t + 10), (lambda: t + 11)
    write(b.path, "INSERT INTO items (id, v) VALUES (1, 'brief on b')")  # not stamped
    write(b.path, "DELETE FROM items WHERE id = 1")
    write(b.path, "INSERT INTO items (id, v) VALUES (3, 'brief on b')")  # a key b never versioned
    write(b.path, "DELETE FROM items WHERE id = 3")
    write(a.path, "INSERT INTO items (id, v) VALUES (1, 'again on a')")
    write(a.path, "INSERT INTO items (id, v) VALUES (3, 'new on a')")
    a.stamp()
    assert {(c.pk, c.deleted) for c in b.stamp()} == {("[1]", True), ("[3]", True)}
    sync_one_way(a, b)
    sync_one_way(b, a)
    assert content(a.path) == content(b.path) == {2: (2, "other", None, None)}
