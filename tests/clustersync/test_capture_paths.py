"""The batched stamp (noted rows and their versions read a chunk of keys per query, versions
stored many per statement) gives exactly what the row-by-row stamp gives: the same versions
returned, in the same order, and the same _cs_rows, vector, clock and counters.

Two databases get the same application writes (plain SQL: the capture triggers note them)
on tables of every key type: INTEGER, untyped (1, 1.0, '1', a BLOB and NULL as keys, several
NULL keys at once), REAL, TEXT with NOCASE collation (two spellings of one key), a composite
key of four affinities and one of eight columns WITHOUT ROWID. Inserts, updates of a value
or of the key (the row moves), deletes, re-inserts and rewrites of the same values, one row
at a time or hundreds (past a chunk's size), and notes of a table no longer replicated.
Some rows are above the copy limit (Store.max_copy lowered): skipped and counted. Then one
database is stamped by `capture.stamp`, the other by `capture.each`.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from clustersync.store import capture
from clustersync.store.changes import Change
from clustersync.store.database import Store
from clustersync.store.schema import KEY_COLUMNS

THIRD = 1.0 / 3
TABLES = {
    "t_int": ("CREATE TABLE t_int (id INTEGER PRIMARY KEY, v, w)", ("id",)),
    "t_any": ("CREATE TABLE t_any (id PRIMARY KEY, v, w)", ("id",)),
    "t_real": ("CREATE TABLE t_real (id REAL PRIMARY KEY, v, w)", ("id",)),
    "t_nocase": ("CREATE TABLE t_nocase (id TEXT COLLATE NOCASE PRIMARY KEY, v, w)", ("id",)),
    "t_comp": (
        "CREATE TABLE t_comp (a TEXT, b REAL, c BLOB, d, v, w, PRIMARY KEY (b, a, d, c))",
        ("b", "a", "d", "c"),
    ),
    "t_wide": (
        "CREATE TABLE t_wide (k0, k1, k2, k3, k4, k5, k6, k7, v, w, "
        "PRIMARY KEY (k0, k1, k2, k3, k4, k5, k6, k7)) WITHOUT ROWID",
        tuple(f"k{i}" for i in range(8)),
    ),
}
NAMES = st.sampled_from(sorted(TABLES))
# Each table's key values, few so that they collide: 1 and 1.0 (and -0.0 and 0) are one key
# where SQLite compares them equal, "a" and "A" one key under NOCASE, NULL in a rowid table's
# key (several rows may hold it; a WITHOUT ROWID table refuses it).
POOLS: dict[str, list[Any]] = {
    "t_int": [1, 2, 1.0],
    "t_any": [1, 1.0, "1", b"1", THIRD, None],
    "t_real": [1, 1.0, THIRD, -0.0, 0],
    "t_nocase": ["a", "A", "1", 1],
    "t_comp": [1, 1.0, "a", None],
    "t_wide": [1, 1.0, "a", b"a", None],
}
KEYS = st.lists(st.integers(0, 5), min_size=8, max_size=8)  # indexes in the table's pool


def _key(table: str, picks: list[int]) -> tuple[Any, ...]:
    pool = POOLS[table]
    return tuple(pool[i % len(pool)] for i in picks[: len(TABLES[table][1])])


VALUE = (
    st.none() | st.sampled_from([1, 1.0, "x", b"x"]) | st.text(max_size=3) | st.text(min_size=90, max_size=90)
)
PENDING = "seq, tbl, " + ", ".join(KEY_COLUMNS)  # (wall: when each database noted its write)
MAX_COPY = 100  # a row with the 90-character value is above it, the others below


def _where(table: str) -> str:
    return " AND ".join(f"{c} IS ?" for c in TABLES[table][1])


def _insert(table: str, replace: bool) -> str:
    columns = [*TABLES[table][1], "v", "w"]
    verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """What stamping writes, with the values' types (1 and 1.0 differ)."""
    out = {}
    for name, columns in [
        ("_cs_rows", "*"),
        ("_cs_vector", "*"),
        ("_cs_meta", "*"),
        ("_cs_pending", PENDING),
    ]:
        rows = store.db.execute(f"SELECT {columns} FROM {name}").fetchall()
        out[name] = sorted((tuple((type(v).__name__, v) for v in row) for row in rows), key=repr)
    return out


def _typed(changes: list[Change]) -> list[tuple[Any, ...]]:
    return [tuple((type(v).__name__, v) for v in c) for c in changes]


class Stamps(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="cs-capture-"))
        self.batch, self.each = self._store("batch"), self._store("each")
        self.slice, capture._SLICE = capture._SLICE, 300  # slices of 300 notes, chunks of 256 or 111 keys

    def _store(self, name: str) -> Store:
        path = self.folder / f"{name}.db"
        db = sqlite3.connect(path)
        for sql, _ in TABLES.values():
            db.execute(sql)
        db.commit()
        db.close()
        # One node id and a clock far behind the notes' wall times: both give every version
        # the same HLC (the clock's last + 1), whenever each database noted its writes.
        store = Store(path, "n", sorted(TABLES), clock=lambda: -1000.0)
        store.max_copy = MAX_COPY
        return store

    def _both(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        """Run one application write on both databases (the same outcome on both)."""
        outcomes = []
        for store in (self.batch, self.each):
            db = sqlite3.connect(store.path)
            try:
                with db:
                    db.executemany(sql, params)
                outcomes.append("ok")
            except sqlite3.Error as exc:  # a NULL or a REAL in a key that refuses it
                outcomes.append(repr(exc))
            finally:
                db.close()
        assert outcomes[0] == outcomes[1], outcomes

    @rule(table=NAMES, key=KEYS, v=VALUE, w=VALUE, replace=st.booleans())
    def insert(self, table: str, key: list[int], v: Any, w: Any, replace: bool) -> None:
        self._both(_insert(table, replace), [(*_key(table, key), v, w)])

    @rule(table=NAMES, key=KEYS, column=st.sampled_from(["v", "w"]), value=VALUE)
    def update(self, table: str, key: list[int], column: str, value: Any) -> None:
        self._both(f"UPDATE {table} SET {column} = ? WHERE {_where(table)}", [(value, *_key(table, key))])

    @rule(table=NAMES, key=KEYS, to=KEYS)
    def move(self, table: str, key: list[int], to: list[int]) -> None:
        """Change a row's key (its first column): the old key is gone, the new one written."""
        first = TABLES[table][1][0]
        sql = f"UPDATE OR REPLACE {table} SET {first} = ? WHERE {_where(table)}"
        self._both(sql, [(_key(table, to)[0], *_key(table, key))])

    @rule(table=NAMES, key=KEYS)
    def delete(self, table: str, key: list[int]) -> None:
        self._both(f"DELETE FROM {table} WHERE {_where(table)}", [_key(table, key)])

    @rule(
        table=st.sampled_from(["t_int", "t_wide"]),
        kind=st.sampled_from(["insert", "update", "delete"]),
        start=st.integers(0, 300),
        count=st.integers(1, 400),
        big=st.booleans(),
    )
    def many(self, table: str, kind: str, start: int, count: int, big: bool) -> None:
        """Hundreds of rows at once: several chunks (256 keys; 111 for the 8-column key)."""
        keys = [(i, 1, "a", b"a", 1.0, 2, 3, 4)[: len(TABLES[table][1])] for i in range(start, start + count)]
        value = "y" * (90 if big else 5)
        if kind == "insert":
            self._both(_insert(table, True), [(*k, value, kind) for k in keys])
        elif kind == "update":
            self._both(f"UPDATE {table} SET v = ? WHERE {_where(table)}", [(value, *k) for k in keys])
        else:
            self._both(f"DELETE FROM {table} WHERE {_where(table)}", keys)

    @rule(key=st.sampled_from([1, "a", None]))
    def note_dropped_table(self, key: Any) -> None:
        """A note of a table no longer replicated (its triggers left behind): dropped."""
        self._both("INSERT INTO _cs_pending (tbl, wall, k0) VALUES ('t_gone', 0, ?)", [(key,)])

    @rule()
    def stamp(self) -> None:
        with self.batch._write() as db:
            batched = capture.stamp(self.batch, db)
        with self.each._write() as db:
            reference = capture.each(self.each, db)
        assert _typed(batched) == _typed(reference)

    @invariant()
    def same(self) -> None:
        assert _dump(self.batch) == _dump(self.each)

    def teardown(self) -> None:
        capture._SLICE = self.slice
        self.batch.close()
        self.each.close()
        shutil.rmtree(self.folder, ignore_errors=True)


TestCapturePaths = Stamps.TestCase
TestCapturePaths.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _steps(*steps: tuple[str, tuple[Any, ...]]) -> None:
    """Run given steps of the machine, then stamp and compare (cases too rare to leave to chance)."""
    machine = Stamps()
    try:
        for name, args in steps:
            getattr(machine, name)(*args)
        machine.stamp()
        machine.same()
    finally:
        machine.teardown()


def test_two_spellings_of_one_nocase_key() -> None:
    """ "a" then "A" (INSERT OR REPLACE: the row's key spelled anew, no delete noted): both
    notes read the one row, as `key IS ?` does under the column's collation."""
    _steps(("insert", ("t_nocase", [0] * 8, 1, 1, True)), ("insert", ("t_nocase", [1] * 8, 2, 2, True)))


def test_several_rows_with_a_null_key() -> None:
    """A rowid table's key may be NULL in several rows: read one at a time, as `each` does
    (the first row `key IS NULL` finds)."""
    null = [5] * 8
    _steps(
        ("insert", ("t_any", null, "x", 1, False)),
        ("insert", ("t_any", null, "z", 2, False)),
        ("stamp", ()),
        ("update", ("t_any", null, "w", 3)),
        ("stamp", ()),
        ("delete", ("t_any", null)),
    )
