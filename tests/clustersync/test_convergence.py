"""Hypothesis stateful test: members that write the same rows and sync pairwise converge.

3 to 5 in-process members, random inserts, updates and deletes on shared keys, random
pairwise syncs in random order, some cut short after a few batches (a crash mid-session).
When syncing stops (a final round), every member is identical and equal to the
per-column last-writer-wins oracle (oracle.py) over every write ever made.
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from clustersync.store.database import Change, Store

from .conftest import content, open_store, sync_one_way
from .oracle import Oracle, key_of

KEYS = st.integers(min_value=1, max_value=6)
STOPS = st.none() | st.integers(min_value=0, max_value=3)  # batches before a crash
VALUES = st.one_of(st.text(max_size=5), st.none(), st.binary(max_size=3))


class Cluster(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="cs-conv-"))
        self.members: list[Store] = []
        self.oracle = Oracle()
        self.now = 1_000_000.0

    def clock(self) -> float:
        return self.now

    def record(self, changes: list[Change]) -> None:
        self.oracle.record(changes)

    @initialize(count=st.integers(min_value=3, max_value=5))
    def start(self, count: int) -> None:
        for i in range(count):
            store = open_store(self.dir / f"m{i}.db", f"m{i}")
            store.clock = self.clock
            self.members.append(store)

    def _write(self, index: int, sql: str, params: tuple[object, ...], stamp: bool) -> None:
        store = self.members[index % len(self.members)]
        db = sqlite3.connect(store.path)
        with db:
            db.execute(sql, params)
        db.close()
        if stamp:
            self.record(store.stamp())

    @rule(m=st.integers(0, 4), key=KEYS, value=VALUES, stamp=st.booleans())
    def upsert(self, m: int, key: int, value: object, stamp: bool) -> None:
        self._write(m, "INSERT OR REPLACE INTO items (id, v) VALUES (?, ?)", (key, value), stamp)

    @rule(m=st.integers(0, 4), key=KEYS, value=st.text(max_size=3), stamp=st.booleans())
    def update(self, m: int, key: int, value: str, stamp: bool) -> None:
        self._write(m, "UPDATE items SET v = ? WHERE id = ?", (value, key), stamp)

    @rule(m=st.integers(0, 4), key=KEYS, stamp=st.booleans())
    def delete(self, m: int, key: int, stamp: bool) -> None:
        self._write(m, "DELETE FROM items WHERE id = ?", (key,), stamp)

    @rule(step=st.floats(min_value=-2, max_value=2))
    def clock_moves(self, step: float) -> None:
        # Clocks may even go back: the HLC must still order versions.
        self.now += step

    @rule(a=st.integers(0, 4), b=st.integers(0, 4), batch=st.integers(1, 4), stop=STOPS)
    def sync(self, a: int, b: int, batch: int, stop: int | None) -> None:
        src, dst = self.members[a % len(self.members)], self.members[b % len(self.members)]
        if src is dst:
            return
        self.record(src.stamp())
        before = dst.counter("duplicates")
        result_stamped = dst.stamp()
        self.record(result_stamped)
        sync_one_way(src, dst, batch, stop)
        assert dst.counter("duplicates") == before, "a version was applied twice"

    @invariant()
    @precondition(lambda self: bool(self.members))
    def nothing_recaptured(self) -> None:
        for store in self.members:
            origins = {o for (o,) in store.db.execute("SELECT DISTINCT origin FROM _cs_rows")}
            assert origins <= {s.node_id for s in self.members}

    def teardown(self) -> None:
        try:
            if self.members:
                self._converge_and_check()
        finally:
            for store in self.members:
                store.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _converge_and_check(self) -> None:
        for store in self.members:
            self.record(store.stamp())
        ring = self.members + self.members[:1]
        for _ in range(2):  # twice around the ring, both ways: everything reaches everyone
            for src, dst in itertools.pairwise(ring):
                sync_one_way(src, dst)
                sync_one_way(dst, src)
        expected = {key_of(pk): (r["id"], r["v"], r["n"], r["b"]) for pk, r in self.oracle.rows().items()}
        for store in self.members:
            assert content(store.path) == expected, store.node_id
            assert store.vector() == self.members[0].vector()
            assert store.pending() == 0


TestConvergence = Cluster.TestCase
TestConvergence.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
