"""The batch apply (a batch's local versions read together, rows written in runs) gives exactly
what the row-by-row apply gives: same tables, versions, vector, conflict log, quarantine and
counters, whatever the batch mixes.

Three source members write the same few rows (inserts that collide, column updates, deletes,
re-inserts, in two tables) and sync among themselves now and then, so their versions carry
bases and merged clocks. Two target databases start equal and get the same batches, random
subsets of a source's current versions in random order (new keys, existing keys, the same
version again, stale ones, one row twice); one applies with Store.batch_apply, the other
row by row; the batch writes its runs with multi-row statements of two rows here
(store/bulk.py, 100 in production), so statements of several rows, a remainder of one,
and a refused statement undone whole all happen. The targets refuse some rows: a UNIQUE
index on `v` (a constraint violation) and a column only source s0 has (a column this
table lacks); both are quarantined. They
also write locally between batches (the same SQL on both), stamped by the next apply, get
the missing column at some point and retry what they hold.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from clustersync.core.codec import _DECODER, decode_row
from clustersync.store import bulk
from clustersync.store.changes import Change
from clustersync.store.database import Store

from .conftest import PAIRS, make_db, sync_one_way

KEYS = st.integers(min_value=1, max_value=5)
VALUES = st.none() | st.sampled_from(["a", "b", "c"]) | st.text(max_size=2)
COLUMNS = st.sampled_from(["v", "n", "b"])

ONE = st.tuples(st.sampled_from(["insert", "insert", "set", "set", "delete", "pair"]), KEYS, COLUMNS, VALUES)


def _sql(kind: str, key: int, column: str, value: object) -> tuple[str, tuple[object, ...]]:
    if kind == "insert":
        return "INSERT OR IGNORE INTO items (id, v, n, b) VALUES (?, ?, ?, ?)", (key, value, key / 3, b"\x00")
    if kind == "set":
        return f"UPDATE items SET {column} = ? WHERE id = ?", (value, key)
    if kind == "pair":
        return "INSERT OR REPLACE INTO pairs (a, b, v) VALUES (?, ?, ?)", (str(value), key, column)
    return "DELETE FROM items WHERE id = ?", (key,)


def _write(path: Path, sql: str, params: tuple[object, ...]) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(sql, params)
    db.close()


def _source(folder: Path, i: int) -> Store:
    path = make_db(folder / f"s{i}.db")
    if i == 0:  # a column the targets lack: its rows are quarantined there
        _write(path, "ALTER TABLE items ADD COLUMN x TEXT", ())
    return Store(path, f"s{i}", ["items", "pairs"])


def _target(folder: Path, name: str, batch: bool) -> Store:
    path = folder / f"{name}.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT UNIQUE, n REAL, b BLOB)")
    db.execute(PAIRS)
    db.commit()
    db.close()
    # The same node id and a clock far behind the sources': both targets give the versions
    # they make (merged rows, local writes) the same HLCs (the clock's tick is then last + 1).
    store = Store(path, "t", ["items", "pairs"], clock=lambda: -1000.0)
    store.batch_apply = batch
    return store


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every table that apply writes, with the values' types (1 and 1.0 differ)."""
    selects = {
        "items": "SELECT * FROM items",
        "pairs": "SELECT * FROM pairs",
        "rows": "SELECT * FROM _cs_rows",
        "vector": "SELECT * FROM _cs_vector",
        "conflicts": "SELECT id, tbl, pk, hlc, origin, deleted, data, winner_hlc, winner_origin, kind, col, "
        "winner_data, acked FROM _cs_conflicts",
        "quarantine": "SELECT tbl, pk, hlc, origin, error, tries FROM _cs_quarantine",
        "meta": "SELECT * FROM _cs_meta",
        "pending": "SELECT count(*) FROM _cs_pending",
    }
    out = {}
    for name, sql in selects.items():
        rows = store.db.execute(sql).fetchall()
        out[name] = sorted((tuple((type(v).__name__, v) for v in row) for row in rows), key=repr)
    return out


def _current(src: Store) -> list[Change]:
    with src.snapshot() as snap:
        return [c for batch in snap.batches({}, 10**6) for c in batch]


class Paths(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="cs-paths-"))
        self.sources = [_source(self.folder, i) for i in range(3)]
        self.fast, self.slow = _target(self.folder, "fast", True), _target(self.folder, "slow", False)
        self.rows, bulk.ROWS = bulk.ROWS, 2

    @rule(i=st.integers(0, 2), writes=st.lists(ONE, min_size=1, max_size=6))
    def write(self, i: int, writes: list[tuple[str, int, str, object]]) -> None:
        for kind, key, column, value in writes:
            _write(self.sources[i].path, *_sql(kind, key, column, value))

    @rule(i=st.integers(0, 2), j=st.integers(0, 2))
    def sync(self, i: int, j: int) -> None:
        if i != j:
            self.sources[i].stamp()
            sync_one_way(self.sources[i], self.sources[j])

    @rule(kind=st.sampled_from(["insert", "set", "delete"]), key=KEYS, column=COLUMNS, value=VALUES)
    def local(self, kind: str, key: int, column: str, value: object) -> None:
        refused = []
        for target in (self.fast, self.slow):
            try:
                _write(target.path, *_sql(kind, key, column, value))
            except sqlite3.IntegrityError as exc:  # the targets' UNIQUE index on v
                refused.append(str(exc))
        assert len(refused) in (0, 2), refused

    @rule(i=st.integers(0, 2), seed=st.integers(0, 2**32), twice=st.booleans(), retry=st.booleans())
    def deliver(self, i: int, seed: int, twice: bool, retry: bool) -> None:
        self.sources[i].stamp()
        batch = _current(self.sources[i])
        pick = random.Random(seed)
        batch = pick.sample(batch, pick.randint(0, len(batch)))
        if twice and batch:
            batch.append(batch[0])  # one row twice in a batch
        assert self.fast.apply(batch) == self.slow.apply(batch)
        if retry:  # as each round does
            assert self.fast.retry_quarantined() == self.slow.retry_quarantined()

    @rule(now=st.integers(0, 4))
    def add_column(self, now: int) -> None:
        """The targets get the column only s0 has (one time in five): its rows apply from then
        on (the table's columns re-read in the middle of a batch), held ones on a retry."""
        for target in (self.fast, self.slow) if now == 0 else ():
            if "x" not in {r[1] for r in target.db.execute("PRAGMA table_info(items)")}:
                _write(target.path, "ALTER TABLE items ADD COLUMN x TEXT", ())

    @invariant()
    def same(self) -> None:
        assert _dump(self.fast) == _dump(self.slow)

    def teardown(self) -> None:
        bulk.ROWS = self.rows
        for store in [*self.sources, self.fast, self.slow]:
            store.close()
        shutil.rmtree(self.folder, ignore_errors=True)


TestApplyPaths = Paths.TestCase
TestApplyPaths.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _reference(text: str) -> object:
    """decode_row before its fast path: every text through the blob-decoding hook."""
    try:
        row = _DECODER.decode(text)
    except ValueError:
        return ValueError
    except TypeError:  # {"$b": 1}: not base64 text
        return TypeError
    if not isinstance(row, dict) or any(isinstance(v, dict | list) for v in row.values()):
        return ValueError
    return row


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "$b", "c"]), inner, max_size=3)
    ),
    max_leaves=6,
)


@given(value=JSON, pad=st.sampled_from(["", " ", "\n"]), blob=st.booleans())
def test_decode_row_fast_path_decodes_as_the_hook_does(value: object, pad: str, blob: bool) -> None:
    if blob and isinstance(value, dict):
        value = {**value, "a": {"$b": "AP8="}}
    text = pad + json.dumps(value) + pad
    try:
        got: object = decode_row(text)
    except ValueError:
        got = ValueError
    except TypeError:
        got = TypeError
    assert got == _reference(text)


def test_a_large_batch_spanning_lookup_chunks_equals_row_by_row(tmp_path: Path) -> None:
    """Hundreds of rows per table (the local versions are read in chunks of keys): new keys,
    existing ones, deletes, a refused row, in two tables, as one batch."""
    source = _source(tmp_path, 1)
    fast, slow = _target(tmp_path, "fast", True), _target(tmp_path, "slow", False)
    db = sqlite3.connect(source.path)
    with db:
        db.executemany("INSERT INTO items (id, v) VALUES (?, ?)", ((i, f"v{i}") for i in range(700)))
        db.executemany("INSERT INTO pairs (a, b, v) VALUES (?, ?, ?)", ((str(i), i, "p") for i in range(300)))
    db.close()
    first = source.stamp()[:400]  # the targets have items 0-399, not the rest (newer versions)
    assert fast.apply(first) == slow.apply(first)
    db = sqlite3.connect(source.path)
    with db:
        db.execute("UPDATE items SET v = 'v1' WHERE id = 3")  # refused: v is UNIQUE on the targets
        db.execute("UPDATE items SET n = 1.5 WHERE id % 3 = 0")
        db.execute("DELETE FROM items WHERE id % 7 = 0")
        db.execute("DELETE FROM pairs WHERE b % 5 = 0")
    db.close()
    source.stamp()
    batch = _current(source)
    random.Random(19).shuffle(batch)
    result = fast.apply(batch)
    assert result == slow.apply(batch)
    assert result.applied > 700 and result.quarantined == 1 and result.duplicates > 100
    assert _dump(fast) == _dump(slow)
    for store in (source, fast, slow):
        store.close()


def test_a_column_added_here_between_batches_equals_row_by_row(tmp_path: Path) -> None:
    """Rows with a column this table lacks are held; once the column is added, the next
    batch re-reads the table's columns at its first row and writes the rest in one run, and a
    retry writes the held rows: the same on both paths."""
    source = _source(tmp_path, 0)  # its items table has a column x the targets lack
    fast, slow = _target(tmp_path, "fast", True), _target(tmp_path, "slow", False)
    _write(
        source.path, "INSERT INTO items (id, v, x) VALUES (1, 'a', 'x1'), (2, 'b', 'x2'), (3, 'c', 'x3')", ()
    )
    first = source.stamp()
    results = [target.apply(first) for target in (fast, slow)]
    assert results[0] == results[1] and results[0].quarantined == 3
    for target in (fast, slow):
        _write(target.path, "ALTER TABLE items ADD COLUMN x TEXT", ())
    _write(
        source.path, "INSERT INTO items (id, v, x) VALUES (4, 'd', 'x4'), (5, 'e', 'x5'), (6, 'f', 'x6')", ()
    )
    second = source.stamp()
    results = [target.apply(second) for target in (fast, slow)]
    assert results[0] == results[1] and results[0].quarantined == 0 and results[0].applied == 3
    assert fast.retry_quarantined() == slow.retry_quarantined() == (3, 0)
    assert _dump(fast) == _dump(slow)
    rows = fast.db.execute("SELECT id, x FROM items ORDER BY id").fetchall()
    assert rows == [(i, f"x{i}") for i in range(1, 7)]
    for store in (source, fast, slow):
        store.close()
