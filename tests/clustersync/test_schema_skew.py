"""A member whose table lacks a column (not migrated yet) never wipes that column elsewhere,
and fills it from the rows' copies once it has the column (SPEC CL-16)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .conftest import content, open_store, sync_one_way


def _sql(path: Path, sql: str, *params: object) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(sql, params)
    db.close()


def test_a_member_without_a_column_keeps_it_for_the_others(tmp_path: Path) -> None:
    new, old = open_store(tmp_path / "new.db", "new"), open_store(tmp_path / "old.db", "old")
    try:
        _sql(new.path, "ALTER TABLE items ADD COLUMN note TEXT")
        _sql(new.path, "INSERT INTO items (id, v, note) VALUES (1, 'a', 'kept')")
        new.stamp()
        sync_one_way(new, old)  # old lacks note: the row waits in quarantine, its version kept
        _sql(old.path, "INSERT INTO items (id, v) VALUES (1, 'a')")  # the application writes it anyway
        _sql(old.path, "UPDATE items SET v = 'b' WHERE id = 1")
        old.stamp()
        sync_one_way(old, new)
        assert content(new.path) == {1: (1, "b", None, None, "kept")}  # old's edit, new's column
        sync_one_way(new, old)
        _sql(old.path, "ALTER TABLE items ADD COLUMN note TEXT")  # old migrated, then restarted:
        old.close()
        old = open_store(tmp_path / "old.db", "old")  # the new column takes the rows' copies' values
        assert content(old.path) == content(new.path) == {1: (1, "b", None, None, "kept")}
    finally:
        new.close()
        old.close()


def test_a_joiner_takes_the_members_schema_version_not_its_old_one(tmp_path: Path) -> None:
    from clustersync.join.incoming import Incoming, JoinState

    member, joiner = open_store(tmp_path / "member.db", "m"), open_store(tmp_path / "app.db", "j")
    member.set_meta("schema_version", 2)
    joiner.set_meta("schema_version", 1)  # a member migrated twice since this node left
    member.close()
    joiner.close()
    incoming = Incoming(tmp_path / "app.db", tmp_path / "state")
    (tmp_path / "member.db").rename(incoming.partial)
    incoming.install(JoinState("m", "s", 0, 1, ["items", "pairs"], checked="ok"))
    joined = open_store(tmp_path / "app.db", "j")
    try:
        assert joined.schema_version() == 2  # else every session would be refused "schema"
    finally:
        joined.close()
