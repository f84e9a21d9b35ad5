"""Every primary-key type replicates exactly, and capture never fails an application's write.

Found on main before: a BLOB key made every INSERT fail in the capture trigger ("JSON cannot
hold BLOB values"); a REAL key 1/3 was never replicated (its JSON text lost precision, and
stamping recorded a tombstone for a key that did not match any row).
"""

from __future__ import annotations

import math
import sqlite3
import struct
from pathlib import Path

import pytest

from clustersync.core.errors import SchemaError
from clustersync.store.database import Store

from .conftest import sync_one_way

TABLES = {
    "k_int": "CREATE TABLE k_int (id INTEGER PRIMARY KEY, v)",
    "k_text": "CREATE TABLE k_text (id TEXT PRIMARY KEY, v)",
    "k_real": "CREATE TABLE k_real (id REAL PRIMARY KEY, v)",
    "k_blob": "CREATE TABLE k_blob (id BLOB PRIMARY KEY, v)",
    "k_num": "CREATE TABLE k_num (id NUMERIC PRIMARY KEY, v)",
    "k_any": "CREATE TABLE k_any (id PRIMARY KEY, v)",
    "k_comp": "CREATE TABLE k_comp (r REAL, b BLOB, t TEXT, i INTEGER, v, PRIMARY KEY (b, r, t, i))",
    "k_norowid": "CREATE TABLE k_norowid (b BLOB, r REAL, v, PRIMARY KEY (r, b)) WITHOUT ROWID",
}

THIRD = 1.0 / 3
KEYS: dict[str, list[tuple[object, ...]]] = {
    "k_int": [(1,), (-(2**63),), (2**63 - 1,)],
    "k_text": [("a",), ("",), ("é\x00\n\"'",), ("1",)],
    "k_real": [(0.1,), (THIRD,), (1.0,), (-0.0,), (math.inf,), (5e-324,), (2.0**60,)],
    "k_blob": [(b"",), (b"\x00\xff",), (bytes(range(256)),)],
    "k_num": [(1,), (THIRD,), ("x",), (b"\x01",)],
    "k_any": [(1,), (THIRD,), ("1",), (b"1",), (None,)],
    "k_comp": [(THIRD, b"\x00", "t", 1), (0.1, b"", "", -1)],
    "k_norowid": [(b"\x00\x01", THIRD), (b"", 0.5)],
}
VALUES: list[object] = [None, 7, THIRD, "text", b"\x00blob", 2.0**53 + 1]


def typed(row: tuple[object, ...]) -> tuple[object, ...]:
    """A row with each value's type and exact bits, so 1 != 1.0 and floats compare bit by bit."""
    out: list[object] = []
    for v in row:
        if isinstance(v, float):
            out.append(("real", struct.pack(">d", v)))
        else:
            out.append((type(v).__name__, v))
    return tuple(out)


def rows(path: Path, table: str) -> set[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return {typed(r) for r in db.execute(f"SELECT * FROM {table}")}
    finally:
        db.close()


def make(path: Path, node: str) -> Store:
    db = sqlite3.connect(path)
    for sql in TABLES.values():
        db.execute(sql)
    db.commit()
    db.close()
    return Store(path, node, list(TABLES))


def app_write(path: Path, sql: str, params: tuple[object, ...]) -> None:
    """The application's own write, through a plain connection: it must never fail."""
    db = sqlite3.connect(path)
    with db:
        db.execute(sql, params)
    db.close()


KEY_COLUMNS = {"k_comp": ["r", "b", "t", "i"], "k_norowid": ["b", "r"]}  # the others: id


def test_every_key_type_replicates_exactly(tmp_path: Path) -> None:
    a, b = make(tmp_path / "a.db", "a"), make(tmp_path / "b.db", "b")
    try:
        for table, keys in KEYS.items():
            key_cols = KEY_COLUMNS.get(table, ["id"])
            names = ", ".join([*key_cols, "v"])
            marks = ", ".join("?" * (len(key_cols) + 1))
            for i, key in enumerate(keys):
                sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
                app_write(a.path, sql, (*key, VALUES[i % len(VALUES)]))
        a.stamp()
        sync_one_way(a, b)
        for table in TABLES:
            assert rows(b.path, table) == rows(a.path, table), table
            assert len(rows(b.path, table)) == len(KEYS[table]), table
        # Updates and deletes find the same rows by their exact keys.
        app_write(a.path, "UPDATE k_real SET v = 'third' WHERE id = ?", (THIRD,))
        app_write(a.path, "DELETE FROM k_blob WHERE id = ?", (b"\x00\xff",))
        app_write(a.path, "UPDATE k_comp SET r = 0.7 WHERE b = ?", (b"\x00",))  # the key itself moves
        app_write(a.path, "DELETE FROM k_any WHERE id IS NULL", ())
        a.stamp()
        sync_one_way(a, b)
        for table in TABLES:
            assert rows(b.path, table) == rows(a.path, table), table
        assert ("str", "third") in {r[1] for r in rows(b.path, "k_real")}
        # And back the other way: b's own writes on those keys.
        app_write(b.path, "UPDATE k_norowid SET v = ? WHERE r = ?", (b"\xff" * 10, THIRD))
        b.stamp()
        sync_one_way(b, a)
        assert rows(a.path, "k_norowid") == rows(b.path, "k_norowid")
    finally:
        a.close()
        b.close()


def test_bit_exact_real_key(tmp_path: Path) -> None:
    a, b = make(tmp_path / "a.db", "a"), make(tmp_path / "b.db", "b")
    try:
        app_write(a.path, "INSERT INTO k_real (id, v) VALUES (?, 'x')", (THIRD,))
        a.stamp()
        sync_one_way(a, b)
        db = sqlite3.connect(b.path)
        (key,) = db.execute("SELECT id FROM k_real").fetchone()
        db.close()
        assert struct.pack(">d", key) == struct.pack(">d", THIRD)
        assert not b.db.execute("SELECT 1 FROM _cs_rows WHERE tbl = 'k_real' AND deleted = 1").fetchall()
    finally:
        a.close()
        b.close()


def test_too_wide_key_refused_naming_the_table(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db = sqlite3.connect(path)
    cols = ", ".join(f"c{i}" for i in range(9))
    db.execute(f"CREATE TABLE wide ({cols}, v, PRIMARY KEY ({cols}))")
    db.commit()
    db.close()
    with pytest.raises(SchemaError, match=r"'wide'.*9 columns.*up to 8"):
        Store(path, "a", ["wide"])


def test_old_pending_notes_are_converted(tmp_path: Path) -> None:
    """A database captured by the earlier layout (pk as JSON text) keeps its unversioned notes."""
    path = tmp_path / "a.db"
    db = sqlite3.connect(path)
    db.execute(TABLES["k_text"])
    db.execute("INSERT INTO k_text VALUES ('kept', 1)")
    db.execute(
        "CREATE TABLE _cs_pending "
        "(seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, wall INTEGER NOT NULL)"
    )
    db.execute("""INSERT INTO _cs_pending (tbl, pk, wall) VALUES ('k_text', '["kept"]', 1000)""")
    db.commit()
    db.close()
    store = Store(path, "a", ["k_text"])
    try:
        (change,) = store.stamp()
        assert change.pk == '["kept"]' and not change.deleted
    finally:
        store.close()
