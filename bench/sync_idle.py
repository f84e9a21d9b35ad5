"""clustersync costs that must follow the changes, not the table (issue 17).

1. Idle session cost: two in-process members (real TCP sessions on 127.0.17.91-92) with N
   replicated rows and one idle origin (the second member wrote one row before the N rows
   and never again, as a standby does); the median wall time of a session with nothing to
   send, for each N. Goal: flat, under 5 ms each.
2. Throughput of 1 MiB rows between two members: one member has --big rows of 1 MiB
   (random bytes), the other pulls them with one session; MB/s of row data.

Run: .venv/bin/python -m bench.sync_idle [--sizes 10000,100000,1000000] [--big 64] [--sessions 21]
It uses only the public API (Node, run_round) and bench.sync's pair of members, so the
same files can be run on an older checkout for a baseline.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench.sync import pair

ADDRESSES = ["127.0.17.91", "127.0.17.92"]


def _write(path: Path, rows: list[tuple[int, object]], column: str) -> None:
    db = sqlite3.connect(path)
    with db:
        db.executemany(f"INSERT INTO items (id, {column}) VALUES (?, ?)", rows)
    db.close()


def idle_session_ms(folder: Path, rows: int, sessions: int) -> float:
    """Median ms of a session with nothing to send, on a table of `rows` rows and one idle origin."""
    with pair(folder, ADDRESSES, timeout=30) as (a, b):
        _write(b.store.path, [(0, "written once by the standby")], "v")
        assert b.run_round() is not None
        step = 100_000
        for start in range(1, rows + 1, step):
            _write(
                a.store.path,
                [(i, f"{i:010d}" + "x" * 90) for i in range(start, min(rows, start + step - 1) + 1)],
                "v",
            )
            a.store.stamp()
        report = b.run_round()
        assert report is not None and report.ok, report
        assert b.store.vector() == a.store.vector()
        times = []
        for _ in range(sessions):
            start_t = time.perf_counter()
            report = a.run_round()
            times.append(time.perf_counter() - start_t)
            assert report is not None and report.ok and report.sent == 0 and report.received == 0, report
        return statistics.median(times) * 1000


def big_rows_mb_per_s(folder: Path, count: int) -> tuple[float, float]:
    """MB/s of 1 MiB rows pulled by one session, and the session's seconds."""
    with pair(folder, ADDRESSES, timeout=30) as (a, b):
        for i in range(count):
            _write(a.store.path, [(i, os.urandom(1 << 20))], "b")
        a.store.stamp()
        start = time.perf_counter()
        report = b.run_round()
        elapsed = time.perf_counter() - start
        assert report is not None and report.ok and report.received >= count, report
        return count * (1 << 20) / elapsed / 1e6, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--big", type=int, default=64, help="1 MiB rows for the throughput (0: skip)")
    parser.add_argument("--sessions", type=int, default=21)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="cs-idle-") as tmp:
        for rows in (int(n) for n in args.sizes.split(",")):
            ms = idle_session_ms(Path(tmp) / f"idle{rows}", rows, args.sessions)
            print(
                f"idle session, {rows:>9,} rows, one idle origin: {ms:7.2f} ms (median of {args.sessions})",
                flush=True,
            )
        if args.big:
            rate, seconds = big_rows_mb_per_s(Path(tmp) / "big", args.big)
            print(
                f"1 MiB rows between two members: {rate:.1f} MB/s "
                f"({args.big} rows in {seconds:.2f} s, one session)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
