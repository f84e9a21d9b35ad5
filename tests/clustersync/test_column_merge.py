"""Hypothesis stateful test of the column-level merge (SPEC CL-15) against oracle.py.

3 to 5 in-process members write the same few rows: inserts (two members inserting under one
key collide), single-column updates, deletes and re-inserts, with clocks that jump back and
forth; they sync pairwise in random order, some sessions cut short (a crash mid-session),
and members close and reopen their database (a restart). When syncing stops (a final
round), every member is identical and equal to per-column last-writer-wins on the hybrid
clock over every write ever made, and every value overwritten by a concurrent write, and
every row that lost an insert collision, is in some member's conflict log.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from .conftest import sync_one_way
from .oracle import Entry, logged
from .ringmachine import RingMembers

KEYS = st.integers(min_value=1, max_value=4)
STOPS = st.none() | st.integers(min_value=0, max_value=2)
TEXTS = st.none() | st.text(max_size=3)
REALS = st.none() | st.floats(allow_nan=False, width=32)
BLOBS = st.none() | st.binary(max_size=3)
COLUMN = st.sampled_from([("v", TEXTS), ("n", REALS), ("b", BLOBS)])


class Members(RingMembers):
    prefix = "cs-merge-"

    @rule(m=st.integers(0, 4), key=KEYS, v=TEXTS, n=REALS, b=BLOBS, stamp=st.booleans())
    def insert(self, m: int, key: int, v: object, n: object, b: object, stamp: bool) -> None:
        sql = "INSERT OR IGNORE INTO items (id, v, n, b) VALUES (?, ?, ?, ?)"
        self._write(m, sql, (key, v, n, b), stamp)

    @rule(m=st.integers(0, 4), key=KEYS, column=COLUMN, data=st.data(), stamp=st.booleans())
    def set_column(self, m: int, key: int, column: tuple[str, st.SearchStrategy[object]], data: st.DataObject,
                   stamp: bool) -> None:  # fmt: skip
        name, values = column
        self._write(m, f"UPDATE items SET {name} = ? WHERE id = ?", (data.draw(values), key), stamp)

    @rule(m=st.integers(0, 4), key=KEYS, stamp=st.booleans())
    def delete(self, m: int, key: int, stamp: bool) -> None:
        self._write(m, "DELETE FROM items WHERE id = ?", (key,), stamp)

    @rule(m=st.integers(0, 4))
    def restart(self, m: int) -> None:
        i = m % len(self.members)
        self.members[i].close()
        self.members[i] = self._open(i)

    @rule(a=st.integers(0, 4), b=st.integers(0, 4), batch=st.integers(1, 3), stop=STOPS)
    def sync(self, a: int, b: int, batch: int, stop: int | None) -> None:
        src, dst = self.members[a % len(self.members)], self.members[b % len(self.members)]
        if src is dst:
            return
        self.oracle.record(src.stamp())
        self.oracle.record(dst.stamp())
        sync_one_way(src, dst, batch, stop)

    def check_converged(self) -> None:
        log: set[Entry] = set()
        for store in self.members:
            log |= logged(store.db)
        missing = self.oracle.expected_conflicts() - log
        assert not missing, f"overwritten concurrent values not in any conflict log: {sorted(missing)}"
        for key, _, _, version in log:  # nothing invented: every entry is a write that was made
            assert version in self.oracle.keys[key].versions()


TestColumnMerge = Members.TestCase
TestColumnMerge.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
