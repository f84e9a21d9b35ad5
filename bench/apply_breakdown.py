"""Where the receiving thread's time goes when it applies new rows (issue 19's apply rate).

A sending member in a process of its own (as bench/sync.py's two-process line), the receiver
here: each SQL statement kind the receiver runs is timed (wall and thread CPU) through a
timing `sqlite3.Connection`, the rest of the thread's CPU is Python. --rows new rows of 200
bytes per turn, three turns (the first two warm up), the last one reported per row.

Run: .venv/bin/python -m bench.apply_breakdown [--rows 50000]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import multiprocessing
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from clustersync.store import database, schema
from habase import collector

TIMES: dict[str, float] = collections.defaultdict(float)
CALLS: collections.Counter[str] = collections.Counter()
TIMING = [False]


class Timed(sqlite3.Connection):
    """A connection that adds each statement's wall and thread CPU time to TIMES."""

    def _timed(self, label: str, call: Any, sql: str, *args: Any) -> Any:
        if not TIMING[0]:
            return call(sql, *args)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return call(sql, *args)
        finally:
            kind = label + " ".join(sql.split()[:3])[:40]
            TIMES[kind] += time.perf_counter() - wall
            TIMES["cpu " + kind] += time.thread_time() - cpu
            CALLS[kind] += 1

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        return self._timed("", super().execute, sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        return self._timed("many ", super().executemany, sql, *args)


def _connect(path: str, timeout: float = 30) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False, factory=Timed)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    rows = parser.parse_args().rows
    collector.tune()  # as `clustersync run` does (habase/collector.py)
    schema.connect = database.connect = _connect  # the stores opened below
    from bench.sync import Node, _insert, _serve, clustersync, load_settings, make_nodes

    with tempfile.TemporaryDirectory() as tmp:
        a, b = make_nodes(Path(tmp), ["127.0.0.78", "127.0.0.79"])
        for node in (a, b):
            node.write_config(batch_rows=2000)
        with contextlib.redirect_stdout(io.StringIO()):
            clustersync(["create", "-c", str(a.config)])
        ours, theirs = multiprocessing.get_context("fork").Pipe()
        child = multiprocessing.get_context("fork").Process(
            target=_serve, args=(a.config, theirs), daemon=True
        )
        child.start()
        try:
            ours.send("cpu")
            ours.recv()
            with contextlib.redirect_stdout(io.StringIO()):
                clustersync(["join", "-c", str(b.config), "--peer", a.peer])
            second = Node(load_settings(b.config))
            second.start(loop=False)
            try:
                for turn in range(3):
                    _insert(a.db, rows * turn, rows)
                    ours.send("stamp")
                    ours.recv()
                    TIMING[0] = turn == 2
                    cpu, wall = time.thread_time(), time.perf_counter()
                    report = second.run_round()
                    elapsed, used = time.perf_counter() - wall, time.thread_time() - cpu
                    assert report is not None and report.ok and report.received == rows, report
            finally:
                second.stop()
        finally:
            ours.send("stop")
            child.join(30)
    us = 1e6 / rows
    print(f"receiver: {rows / elapsed:,.0f} rows/s, thread CPU {used * us:.2f} us per row")
    sql_cpu = 0.0
    for kind, seconds in sorted(TIMES.items(), key=lambda item: -item[1]):
        if not kind.startswith("cpu ") and seconds * us >= 0.01:
            sql_cpu += TIMES["cpu " + kind]
            cost = f"wall {seconds * us:5.2f}  CPU {TIMES['cpu ' + kind] * us:5.2f} us/row"
            print(f"  {kind:45s} x{CALLS[kind]:<5d} {cost}")
    print(f"  {'Python and the rest':45s} {'':6s} {'':10s} CPU {(used - sql_cpu) * us:5.2f} us/row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
