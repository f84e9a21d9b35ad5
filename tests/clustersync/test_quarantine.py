"""Apply errors are what they are: a refused change is quarantined, shown, released once fixed.

In-process stores; the real-process version is test_apply_errors.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from clustersync.core.errors import ApplyError
from clustersync.store.database import Store
from clustersync.store.reads import ReadOnly

from .conftest import content, open_store, sync_one_way


def app_write(store: Store, sql: str, *params: object) -> None:
    db = sqlite3.connect(store.path)
    with db:
        db.execute(sql, params)
    db.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    a, b = open_store(tmp_path / "a.db", "a"), open_store(tmp_path / "b.db", "b")
    yield a, b
    a.close()
    b.close()


def test_constraint_violation_is_held_and_released(pair: tuple[Store, Store]) -> None:
    a, b = pair
    app_write(b, "CREATE UNIQUE INDEX items_v ON items (v)")  # a constraint only b has
    for i, v in ((1, "dup"), (2, "dup"), (3, "after")):
        app_write(a, "INSERT INTO items (id, v) VALUES (?, ?)", i, v)
    a.stamp()
    sync_one_way(a, b)
    assert set(content(b.path)) == {1, 3}, "the rows behind the refused one flow on"
    assert b.vector() == a.vector()
    with ReadOnly(b.path, "b") as view:
        (held,) = view.quarantined()
        assert view.counter("quarantined") == 1
    assert held["key"] == "[2]" and held["origin"] == "a"
    assert held["error"].startswith("constraint violation: UNIQUE constraint failed: items.v")
    assert b.retry_quarantined() == (0, 1)  # the cause is still there
    app_write(b, "DROP INDEX items_v")
    assert b.retry_quarantined() == (1, 0)
    assert content(b.path) == content(a.path)
    # b passes the version on although it held it for a while.
    c = open_store(b.path.with_name("c.db"), "c")
    try:
        sync_one_way(b, c)
        assert content(c.path) == content(a.path)
    finally:
        c.close()


def test_newer_version_replaces_a_held_one(pair: tuple[Store, Store]) -> None:
    a, b = pair
    app_write(b, "CREATE UNIQUE INDEX items_v ON items (v)")
    app_write(a, "INSERT INTO items (id, v) VALUES (1, 'x'), (2, 'x')")
    a.stamp()
    sync_one_way(a, b)
    app_write(a, "UPDATE items SET v = 'y' WHERE id = 2")
    a.stamp()
    sync_one_way(a, b)
    assert content(b.path) == content(a.path)
    assert ReadOnly(b.path, "b").quarantined() == []


def test_unknown_column_is_held_until_added(pair: tuple[Store, Store]) -> None:
    a, b = pair
    app_write(a, "ALTER TABLE items ADD COLUMN extra TEXT")
    app_write(a, "INSERT INTO items (id, v, extra) VALUES (1, 'v', 'e')")
    a.stamp()
    sync_one_way(a, b)
    (held,) = ReadOnly(b.path, "b").quarantined()
    assert "extra" in held["error"] and "ALTER TABLE" in held["error"]
    app_write(b, "ALTER TABLE items ADD COLUMN extra TEXT")
    assert b.retry_quarantined() == (1, 0)
    assert content(b.path) == content(a.path)


def test_disk_full_is_reported_as_such_and_nothing_is_lost(pair: tuple[Store, Store]) -> None:
    a, b = pair
    app_write(a, "INSERT INTO items (id, b) VALUES (1, ?)", b"\x01" * 300_000)
    a.stamp()
    pages = b.db.execute("PRAGMA page_count").fetchone()[0]
    b.db.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk is full, for this connection
    with pytest.raises(ApplyError, match="disk full"):
        sync_one_way(a, b)
    assert b.vector().get("a") is None, "nothing half-applied"
    b.db.execute("PRAGMA max_page_count = 1073741823")  # space again
    sync_one_way(a, b)
    assert content(b.path) == content(a.path)


def test_a_row_too_large_to_copy_is_counted_and_the_rest_flows(pair: tuple[Store, Store]) -> None:
    a, b = pair
    a.max_copy = 100_000  # as if SQLite's value limit were 100 kB
    app_write(a, "INSERT INTO items (id, b) VALUES (1, ?)", b"\x01" * 200_000)
    app_write(a, "INSERT INTO items (id, v) VALUES (2, 'small')")
    a.stamp()  # no exception: the loop must not stall on it
    sync_one_way(a, b)
    assert set(content(b.path)) == {2}
    assert a.counter("too_large") == 1
