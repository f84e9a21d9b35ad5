"""clustersync change capture: versioning rows written by plain SQL, batched against row by row.

N rows of 200 bytes are inserted into a replicated table by another connection (the capture
triggers note them), then stamped; then all N updated (one column) and stamped; then all N
deleted and stamped. Each stamp is timed (wall and this process's CPU) with the batched
capture (`capture.stamp`: a chunk of keys per query, versions stored many per statement)
and, on a database of its own, with the row-by-row one (`capture.each`: three statements
per row, the capture before issue 19d), alternately, best of --rounds each.

Run: .venv/bin/python -m bench.capture [--rows 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from clustersync.store import capture
from clustersync.store.changes import Change
from clustersync.store.database import Store

Stamp = Callable[[Store, sqlite3.Connection], list[Change]]
WRITES = {
    "insert": ("INSERT INTO items (id, v) VALUES (?, ?)", lambda i: (i, f"{i:010d}" + "x" * 190)),
    "update": ("UPDATE items SET v = ? WHERE id = ?", lambda i: (f"{i:010d}" + "y" * 190, i)),
    "delete": ("DELETE FROM items WHERE id = ?", lambda i: (i,)),
}


def _round(folder: Path, name: str, stamp: Stamp, rows: int) -> dict[str, tuple[float, float]]:
    """(rows/s, CPU ms per 1,000 rows) of each write's stamp, on a fresh database."""
    path = folder / f"{name}.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)")
    db.commit()
    store = Store(path, "bench", ["items"])
    out = {}
    try:
        for kind, (sql, params) in WRITES.items():
            with db:
                db.executemany(sql, (params(i) for i in range(rows)))
            cpu, wall = time.process_time(), time.perf_counter()
            with store._write() as conn:
                stamped = stamp(store, conn)
            elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
            assert len(stamped) == rows, (kind, len(stamped))
            out[kind] = (rows / elapsed, used / rows * 1e6)
    finally:
        store.close()
        db.close()
        for leftover in folder.glob(f"{name}.db*"):
            leftover.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best: dict[str, dict[str, tuple[float, float]]] = {"batch": {}, "each": {}}
    paths: dict[str, Stamp] = {"batch": capture.stamp, "each": capture.each}
    with tempfile.TemporaryDirectory(prefix="cs-capture-bench-") as folder:
        for r in range(args.rounds):
            for mode, stamp in paths.items():
                for kind, (rate, cpu) in _round(Path(folder), f"{mode}{r}", stamp, args.rows).items():
                    old = best[mode].get(kind)
                    best[mode][kind] = (max(rate, old[0]), min(cpu, old[1])) if old else (rate, cpu)
    for kind in WRITES:
        (rate, cpu), (each_rate, each_cpu) = best["batch"][kind], best["each"][kind]
        print(
            f"capture of {args.rows:,} {kind}s: batch {rate:,.0f} rows/s, CPU {cpu:.1f} ms per 1,000 rows; "
            f"row by row {each_rate:,.0f} rows/s, CPU {each_cpu:.1f} ms; CPU ratio {each_cpu / cpu:.2f} "
            f"(best of {args.rounds} each)"
        )


if __name__ == "__main__":
    main()
