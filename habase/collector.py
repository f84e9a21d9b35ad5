"""Python's cyclic garbage collector, set for a long-running service that moves many rows.

The collector runs when more container objects (lists, tuples, dicts...) were made than
freed since its last run: 700 for the youngest generation by default, and every 100th run
goes over every object of the process. Applying a peer's batch makes a few containers per
row that live until the batch is written (thousands at a time), so with the defaults the
whole heap was walked every ~17,000 rows applied: 2.3 us of a receiver's ~11 us per row
(docs/benchmarks.md). The service makes few reference cycles (its rows, messages and
versions hold none), so running the youngest generation 14 times less often, and the walk
over everything 140 times less often, frees the same garbage a little later.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 10, 100)  # youngest generation's allocations; runs of each before the next


def tune() -> tuple[int, int, int]:
    """Set the collector's thresholds for a service; return the ones it had."""
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    return before
