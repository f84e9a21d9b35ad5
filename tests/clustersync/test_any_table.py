"""Hypothesis stateful test: any table SQLite can hold converges, nothing committed is lost.

3 to 5 in-process members share random tables: keys of every type (INTEGER, TEXT, REAL,
BLOB, NUMERIC, no type), composite keys, WITHOUT ROWID; values of every type, BLOBs up to a
few MiB. Random inserts, updates, deletes through plain connections (none may be refused),
pairwise syncs cut short after a few batches (a crash mid-session), members closed and
opened again (a restart). At the end, after two rounds of the ring both ways, every member's
tables are identical, value by value and bit by bit, and equal to per-column
last-writer-wins (oracle.py) over every write ever made.
"""

from __future__ import annotations

import itertools
import random
import shutil
import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from clustersync.store.database import Change, Store

from .conftest import sync_one_way
from .oracle import Oracle

TYPES = ("INTEGER", "TEXT", "REAL", "BLOB", "NUMERIC", "")
POOL: tuple[object, ...] = (1, 2, 1.0, 1.0 / 3, 0.1, -0.0, 2.0**70, "a", "b", "1", b"\x00", b"k", b"")
VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=16),
)


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]  # declared types of the key columns k_0..
    without_rowid: bool

    @property
    def rowid_alias(self) -> bool:
        return self.keys == ("INTEGER",) and not self.without_rowid

    def create(self) -> str:
        cols = ", ".join(f"k_{i} {t}".rstrip() for i, t in enumerate(self.keys))
        pk = ", ".join(f"k_{i}" for i in range(len(self.keys)))
        tail = " WITHOUT ROWID" if self.without_rowid else ""
        return f"CREATE TABLE {self.name} ({cols}, v, r REAL, PRIMARY KEY ({pk})){tail}"

    @property
    def key_names(self) -> list[str]:
        return [f"k_{i}" for i in range(len(self.keys))]


TABLES = st.lists(
    st.tuples(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3), st.booleans()), min_size=1, max_size=3
)


def typed(value: object) -> object:
    return ("real", struct.pack(">d", value)) if isinstance(value, float) else (type(value).__name__, value)


class AnyTable(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="cs-any-"))
        self.members: list[Store] = []
        self.tables: list[Table] = []
        self.oracle = Oracle()  # per-column last-writer-wins over every write

    def record(self, changes: list[Change]) -> None:
        self.oracle.record(changes)

    def open(self, index: int) -> Store:
        return Store(self.dir / f"m{index}.db", f"m{index}", [t.name for t in self.tables])

    @initialize(count=st.integers(3, 5), specs=TABLES)
    def start(self, count: int, specs: list[tuple[list[str], bool]]) -> None:
        self.tables = [Table(f"t{i}", tuple(keys), norowid) for i, (keys, norowid) in enumerate(specs)]
        for i in range(count):
            db = sqlite3.connect(self.dir / f"m{i}.db")
            for table in self.tables:
                db.execute(table.create())
            db.commit()
            db.close()
            self.members.append(self.open(i))

    def key(self, table: Table, draw: list[int]) -> tuple[object, ...]:
        if table.rowid_alias:
            return (draw[0] % 4,)
        return tuple(POOL[d % len(POOL)] for d in draw[: len(table.keys)])

    def write(self, m: int, sql: str, params: tuple[object, ...], stamp: bool) -> None:
        store = self.members[m % len(self.members)]
        db = sqlite3.connect(store.path, timeout=10)
        with db:  # the application's own write: it must never be refused
            db.execute(sql, params)
        db.close()
        if stamp:
            self.record(store.stamp())

    @rule(m=st.integers(0, 4), t=st.integers(0, 2), k=st.lists(st.integers(0, 99), min_size=3, max_size=3),
          v=VALUES, r=st.floats(allow_nan=False), stamp=st.booleans())  # fmt: skip
    def upsert(self, m: int, t: int, k: list[int], v: object, r: float, stamp: bool) -> None:
        table = self.tables[t % len(self.tables)]
        names = ", ".join([*table.key_names, "v", "r"])
        marks = ", ".join("?" * (len(table.keys) + 2))
        self.write(
            m,
            f"INSERT OR REPLACE INTO {table.name} ({names}) VALUES ({marks})",
            (*self.key(table, k), v, r),
            stamp,
        )

    @rule(m=st.integers(0, 4), t=st.integers(0, 2), k=st.lists(st.integers(0, 99), min_size=3, max_size=3),
          size=st.integers(1, 3 << 20), seed=st.integers(0, 255))  # fmt: skip
    def big_value(self, m: int, t: int, k: list[int], size: int, seed: int) -> None:
        table = self.tables[t % len(self.tables)]
        blob = random.Random(seed).randbytes(size)
        names = ", ".join([*table.key_names, "v"])
        marks = ", ".join("?" * (len(table.keys) + 1))
        self.write(
            m,
            f"INSERT OR REPLACE INTO {table.name} ({names}) VALUES ({marks})",
            (*self.key(table, k), blob),
            True,
        )

    @rule(m=st.integers(0, 4), t=st.integers(0, 2), k=st.lists(st.integers(0, 99), min_size=3, max_size=3),
          v=VALUES, stamp=st.booleans())  # fmt: skip
    def update(self, m: int, t: int, k: list[int], v: object, stamp: bool) -> None:
        table = self.tables[t % len(self.tables)]
        where = " AND ".join(f"{c} = ?" for c in table.key_names)
        self.write(m, f"UPDATE {table.name} SET v = ? WHERE {where}", (v, *self.key(table, k)), stamp)

    @rule(m=st.integers(0, 4), t=st.integers(0, 2), k=st.lists(st.integers(0, 99), min_size=3, max_size=3),
          stamp=st.booleans())  # fmt: skip
    def delete(self, m: int, t: int, k: list[int], stamp: bool) -> None:
        table = self.tables[t % len(self.tables)]
        where = " AND ".join(f"{c} = ?" for c in table.key_names)
        self.write(m, f"DELETE FROM {table.name} WHERE {where}", self.key(table, k), stamp)

    @rule(
        a=st.integers(0, 4), b=st.integers(0, 4), batch=st.integers(1, 4), stop=st.none() | st.integers(0, 3)
    )
    def sync(self, a: int, b: int, batch: int, stop: int | None) -> None:
        src, dst = self.members[a % len(self.members)], self.members[b % len(self.members)]
        if src is dst:
            return
        self.record(src.stamp())
        self.record(dst.stamp())
        sync_one_way(src, dst, batch, stop)  # stop: the session dies after that many batches

    @rule(m=st.integers(0, 4))
    def restart(self, m: int) -> None:
        index = m % len(self.members)
        self.members[index].close()  # unstamped notes stay in the database, as after a crash
        self.members[index] = self.open(index)

    def content(self, store: Store) -> dict[str, set[tuple[object, ...]]]:
        db = sqlite3.connect(store.path, timeout=10)
        try:
            return {
                t.name: {tuple(typed(v) for v in row) for row in db.execute(f"SELECT * FROM {t.name}")}
                for t in self.tables
            }
        finally:
            db.close()

    def teardown(self) -> None:
        try:
            if self.members:
                self.converge_and_check()
        finally:
            for store in self.members:
                store.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def converge_and_check(self) -> None:
        for store in self.members:
            self.record(store.stamp())
        ring = self.members + self.members[:1]
        for _ in range(2):
            for src, dst in itertools.pairwise(ring):
                sync_one_way(src, dst)
                sync_one_way(dst, src)
        first = self.content(self.members[0])
        for store in self.members[1:]:
            assert self.content(store) == first, f"{store.node_id} differs from {self.members[0].node_id}"
        expected: dict[str, set[tuple[object, ...]]] = {t.name: set() for t in self.tables}
        columns = {t.name: [*t.key_names, "v", "r"] for t in self.tables}
        for (tbl, _), row in self.oracle.rows().items():
            expected[tbl].add(tuple(typed(row[col]) for col in columns[tbl]))
        assert first == expected, "a committed row is missing or a deleted one is back"


TestAnyTable = AnyTable.TestCase
TestAnyTable.settings = settings(
    max_examples=20, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
