"""The column merge's cost per updated row, in CPU time of the receiving thread (issue 19).

bench/sync.py prints the update apply rate with the column merge and with whole-row
last-writer-wins; its wall times swing by 2-3x when other processes share the machine. This
measures the same pulls (two members in this process on 127.0.0.78-79, N rows of 200 bytes,
the N rows updated in one column and pulled again, alternately merged and whole-row) and
reports the receiving thread's CPU per row too (the thread that runs the session, decides
and writes; the sender is the other member's server thread), which the load moves far less.
Then merge.merge() alone per pair of states, 2 and 10 columns: an update written on top of
the other state (the common case), concurrent updates of two columns or of one, a delete
against a concurrent update (us per call, best of 5 over 2,000 pairs).

Run: .venv/bin/python -m bench.merge [--rows 50000] [--turns 6]
(against another tree's code, from that tree: .venv/bin/python -c "import runpy, sys;
sys.argv = ['merge']; runpy.run_path('PATH/bench/merge.py', run_name='__main__')")
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from bench.sync import _insert, _update, pair
from clustersync.core.merge import RowState, merge, write

KINDS = ("on top", "concurrent columns", "concurrent same column", "delete vs update")


def _state(prev: RowState | None, values: dict[str, object] | None, v: tuple[int, str]) -> RowState:
    s = write(prev, values, v)
    assert s is not None
    return s


def states(kind: str, width: int, count: int) -> list[tuple[RowState, RowState]]:
    """Pairs of states of one row: the receiver's and an incoming one."""
    out = []
    for i in range(count):
        born = _state(None, {f"c{k}": f"v{k}-{i}" for k in range(width)}, (1000 + i, "a"))
        old = born.values or {}
        theirs = _state(born, {**old, "c1": f"t{i}"}, (200_000 + i, "b"))
        mine = {
            "on top": born,
            "concurrent columns": _state(born, {**old, "c0": f"m{i}"}, (100_000 + i, "a")),
            "concurrent same column": _state(born, {**old, "c1": f"m{i}"}, (100_000 + i, "a")),
            "delete vs update": _state(born, None, (100_000 + i, "a")),
        }[kind]
        out.append((mine, theirs))
    return out


def merges(count: int = 2000) -> dict[tuple[str, int], float]:
    """merge() per call, us, best of 5, per kind and width."""
    out = {}
    for kind in KINDS:
        for width in (2, 10):
            pairs = states(kind, width, count)
            best = float("inf")
            for _ in range(5):
                cpu = time.process_time()
                for mine, theirs in pairs:
                    merge(mine, theirs)
                best = min(best, time.process_time() - cpu)
            out[(kind, width)] = best / count * 1e6
    return out


def measure(folder: Path, rows: int, turns: int) -> dict[str, dict[str, float]]:
    """Best rows/s and CPU us per row of the receiving thread, per mode, over `turns` pulls."""
    out: dict[str, dict[str, list[float]]] = {m: {"rate": [], "cpu": []} for m in ("whole", "merge")}
    with pair(folder, ["127.0.0.78", "127.0.0.79"]) as (first, second):
        _insert(first.store.path, 0, rows)
        first.store.stamp()
        second.run_round()
        for turn in range(turns):
            mode = ("whole", "merge")[turn % 2]
            second.store.column_merge = mode == "merge"
            _update(first.store.path, rows, f"u{turn}")
            first.store.stamp()
            wall, cpu = time.perf_counter(), time.thread_time()
            report = second.run_round()
            used, elapsed = time.thread_time() - cpu, time.perf_counter() - wall
            assert report is not None and report.ok and report.received == rows, report
            out[mode]["rate"].append(rows / elapsed)
            out[mode]["cpu"].append(used / rows * 1e6)
        second.store.column_merge = True
    return {m: {"rows_per_s": max(v["rate"]), "cpu_us_per_row": min(v["cpu"])} for m, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--turns", type=int, default=6)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        r = measure(Path(folder), args.rows, args.turns)
    m, w = r["merge"], r["whole"]
    print(
        f"apply of updates: column merge {m['rows_per_s']:,.0f} rows/s, "
        f"receiver CPU {m['cpu_us_per_row']:.1f} us/row; "
        f"whole-row LWW {w['rows_per_s']:,.0f} rows/s, {w['cpu_us_per_row']:.1f} us/row "
        f"(merge/whole: rate {m['rows_per_s'] / w['rows_per_s']:.2f}, "
        f"CPU {w['cpu_us_per_row'] / m['cpu_us_per_row']:.2f}; best of {args.turns // 2} each)"
    )
    calls = merges()
    print("merge() per call: " + "; ".join(f"{k}, {w} columns {us:.2f} us" for (k, w), us in calls.items()))


if __name__ == "__main__":
    main()
