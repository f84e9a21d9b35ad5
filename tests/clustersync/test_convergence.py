"""Hypothesis stateful test: members that write the same rows and sync pairwise converge.

3 to 5 in-process members, random inserts, updates and deletes on shared keys, random
pairwise syncs in random order, some cut short after a few batches (a crash mid-session).
When syncing stops (a final round), every member is identical and equal to the
per-column last-writer-wins oracle (oracle.py) over every write ever made.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from .conftest import sync_one_way
from .ringmachine import RingMembers

KEYS = st.integers(min_value=1, max_value=6)
STOPS = st.none() | st.integers(min_value=0, max_value=3)  # batches before a crash
VALUES = st.one_of(st.text(max_size=5), st.none(), st.binary(max_size=3))


class Cluster(RingMembers):
    prefix = "cs-conv-"

    @rule(m=st.integers(0, 4), key=KEYS, value=VALUES, stamp=st.booleans())
    def upsert(self, m: int, key: int, value: object, stamp: bool) -> None:
        self._write(m, "INSERT OR REPLACE INTO items (id, v) VALUES (?, ?)", (key, value), stamp)

    @rule(m=st.integers(0, 4), key=KEYS, value=st.text(max_size=3), stamp=st.booleans())
    def update(self, m: int, key: int, value: str, stamp: bool) -> None:
        self._write(m, "UPDATE items SET v = ? WHERE id = ?", (value, key), stamp)

    @rule(m=st.integers(0, 4), key=KEYS, stamp=st.booleans())
    def delete(self, m: int, key: int, stamp: bool) -> None:
        self._write(m, "DELETE FROM items WHERE id = ?", (key,), stamp)

    @rule(a=st.integers(0, 4), b=st.integers(0, 4), batch=st.integers(1, 4), stop=STOPS)
    def sync(self, a: int, b: int, batch: int, stop: int | None) -> None:
        src, dst = self.members[a % len(self.members)], self.members[b % len(self.members)]
        if src is dst:
            return
        self.oracle.record(src.stamp())
        before = dst.counter("duplicates")
        result_stamped = dst.stamp()
        self.oracle.record(result_stamped)
        sync_one_way(src, dst, batch, stop)
        assert dst.counter("duplicates") == before, "a version was applied twice"

    @invariant()
    @precondition(lambda self: bool(self.members))
    def nothing_recaptured(self) -> None:
        for store in self.members:
            origins = {o for (o,) in store.db.execute("SELECT DISTINCT origin FROM _cs_rows")}
            assert origins <= {s.node_id for s in self.members}

    def check_converged(self) -> None:
        for store in self.members:
            assert store.pending() == 0


TestConvergence = Cluster.TestCase
TestConvergence.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
