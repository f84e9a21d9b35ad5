"""The members of the hypothesis stateful tests: 3 to 5 in-process stores writing the same rows.

A subclass adds its writes and its syncs. Writes go through plain SQL (as an application's),
each optionally stamped at once and recorded in the oracle; the shared clock moves both
ways. At the end every member is stamped, synced twice around the ring both ways, and must
equal the oracle's per-column last-writer-wins rows, with one and the same vector; then the
subclass's own final checks run (`check_converged`).
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from clustersync.store.database import Store

from .conftest import content, open_store, sync_one_way
from .oracle import Oracle, key_of


class RingMembers(RuleBasedStateMachine):
    prefix = "cs-ring-"  # the temporary folder's name

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.members: list[Store] = []
        self.oracle = Oracle()
        self.now = 1_000_000.0

    def clock(self) -> float:
        return self.now

    def _open(self, i: int) -> Store:
        store = open_store(self.dir / f"m{i}.db", f"m{i}")
        store.clock = self.clock
        return store

    @initialize(count=st.integers(min_value=3, max_value=5))
    def start(self, count: int) -> None:
        self.members = [self._open(i) for i in range(count)]

    def _write(self, m: int, sql: str, params: tuple[object, ...], stamp: bool) -> None:
        store = self.members[m % len(self.members)]
        db = sqlite3.connect(store.path)
        with db:
            db.execute(sql, params)
        db.close()
        if stamp:
            self.oracle.record(store.stamp())

    @rule(step=st.floats(min_value=-2, max_value=2))
    def clock_moves(self, step: float) -> None:
        # Clocks may even go back: the HLC must still order versions.
        self.now += step

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
            self.oracle.record(store.stamp())
        ring = self.members + self.members[:1]
        for _ in range(2):  # twice around the ring, both ways: everything reaches everyone
            for src, dst in itertools.pairwise(ring):
                sync_one_way(src, dst)
                sync_one_way(dst, src)
        expected = {key_of(pk): (r["id"], r["v"], r["n"], r["b"]) for pk, r in self.oracle.rows().items()}
        for store in self.members:
            assert content(store.path) == expected, store.node_id
            assert store.vector() == self.members[0].vector()
        self.check_converged()

    def check_converged(self) -> None:
        """The subclass's own checks once every member is the same."""
