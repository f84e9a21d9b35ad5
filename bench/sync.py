"""clustersync throughput and propagation (issue 19's goal: 100,000 rows/s of 200-byte rows applied).

1. Two members in this process on 127.0.0.78-79, real TCP session: one has N new rows of
   200 bytes, the other pulls them with one `run_round()`; rows/s applied and CPU per 1,000
   rows, of both sides together and of the receiving side alone (the thread that runs the
   session and applies; the sender is the other member's server thread). Change capture
   (versioning N rows) is timed too. Then N more new rows are pulled, alternately with the
   batch apply and row by row (Store.batch_apply False, the apply before it), twice each.
   Then the N first rows are updated (one column) and pulled again, alternately with the
   column merge on and with whole-row last-writer-wins (Store.column_merge False): the
   merge's cost. Then the same new-row pulls with the sending member in a process of its
   own (forked; told over a pipe to stamp its rows before each session): no GIL shared, as
   between two machines.
2. Five real `clustersync run` processes on 127.0.0.73-77: a row is written on one member
   (round robin) and each other member's database is polled until it appears; p50/p99 of
   the time until every member has it. Bounded: --writes rows, 20 s each at most (0: skip).

Run: .venv/bin/python -m bench.sync [--rows 50000] [--writes 40]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

from clustersync.cli.main import main as clustersync
from clustersync.config import load_settings
from clustersync.sync.daemon import Node
from habase import collector
from tests.clustersync.nodes import NodeDir, make_nodes


def _insert(path: Path, start: int, count: int) -> None:
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO items (id, v) VALUES (?, ?)",
            ((i, f"{i:010d}" + "x" * 190) for i in range(start, start + count)),
        )
    db.close()


@contextlib.contextmanager
def pair(folder: Path, addresses: list[str], **config: object) -> Iterator[tuple[Node, Node]]:
    """Two members, created and joined, serving but with no ring loop (the bench drives sessions)."""
    a, b = make_nodes(folder, addresses)
    for node in (a, b):
        node.write_config(batch_rows=2000, **config)
    with contextlib.redirect_stdout(io.StringIO()):
        clustersync(["create", "-c", str(a.config)])
    first = Node(load_settings(a.config))
    first.start(loop=False)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            clustersync(["join", "-c", str(b.config), "--peer", a.peer])
        second = Node(load_settings(b.config))
        second.start(loop=False)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def _serve(config: Path, commands: Connection) -> None:
    """The sending member in a process of its own: serves sessions; stamps, reports its CPU."""
    logging.basicConfig(level=logging.ERROR)
    node = Node(load_settings(config))
    node.start(loop=False)
    try:
        while (command := commands.recv()) != "stop":
            if command == "stamp":
                node.store.stamp()
            commands.send(time.process_time())
    finally:
        node.stop()


def two_processes(folder: Path, rows: int) -> dict[str, float]:
    """New rows pulled from a member in another process (as between two machines: no GIL
    shared), alternately with the batch apply and row by row; CPU per 1,000 rows each side."""
    a, b = make_nodes(folder, ["127.0.0.78", "127.0.0.79"])
    for node in (a, b):
        node.write_config(batch_rows=2000)
    with contextlib.redirect_stdout(io.StringIO()):
        clustersync(["create", "-c", str(a.config)])
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(target=_serve, args=(a.config, theirs), daemon=True)
    child.start()
    out: dict[str, list[float]] = {
        "batch": [],
        "each": [],
        "batch_receiver": [],
        "each_receiver": [],
        "sender": [],
    }
    try:
        ours.send("cpu")
        ours.recv()  # serving
        with contextlib.redirect_stdout(io.StringIO()):
            clustersync(["join", "-c", str(b.config), "--peer", a.peer])
        second = Node(load_settings(b.config))
        second.start(loop=False)
        try:
            for turn, mode in enumerate(["batch", "each", "batch", "each"]):
                second.store.batch_apply = mode == "batch"
                _insert(a.db, rows * turn, rows)
                ours.send("stamp")
                sender = ours.recv()
                mine, wall = time.thread_time(), time.perf_counter()
                report = second.run_round()
                out[mode].append(rows / (time.perf_counter() - wall))
                receiving = time.thread_time() - mine
                ours.send("cpu")
                assert report is not None and report.ok and report.received == rows, report
                out[f"{mode}_receiver"].append(receiving / rows * 1e6)
                out["sender"].append((ours.recv() - sender) / rows * 1e6)
        finally:
            second.stop()
    finally:
        ours.send("stop")
        child.join(30)
    return {
        "batch_rows_per_s": max(out["batch"]),
        "each_rows_per_s": max(out["each"]),
        "receiver_cpu_ms_per_1000": min(out["batch_receiver"]),
        "each_receiver_cpu_ms_per_1000": min(out["each_receiver"]),
        "sender_cpu_ms_per_1000": min(out["sender"]),
    }


def throughput(folder: Path, rows: int) -> dict[str, float]:
    """Rows/s applied by one session between two in-process members, and CPU per 1,000 rows."""
    with pair(folder, ["127.0.0.78", "127.0.0.79"]) as (first, second):
        _insert(first.store.path, 0, rows)
        cpu, wall = time.process_time(), time.perf_counter()
        first.store.stamp()
        capture_s, capture_cpu = time.perf_counter() - wall, time.process_time() - cpu
        cpu, mine, wall = time.process_time(), time.thread_time(), time.perf_counter()
        report = second.run_round()
        elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
        receiving = time.thread_time() - mine
        assert report is not None and report.ok and report.received == rows, report
        paths = inserts(first, second, rows)
        u = updates(first, second, rows)
        return {
            "update_merge_rows_per_s": u["merge"],
            "update_whole_rows_per_s": u["whole"],
            "insert_batch_rows_per_s": paths["batch"],
            "insert_each_rows_per_s": paths["each"],
            "rows": rows,
            "apply_rows_per_s": rows / elapsed,
            "session_s": elapsed,
            "cpu_ms_per_1000": used / rows * 1e6,
            "receiver_cpu_ms_per_1000": receiving / rows * 1e6,
            "capture_rows_per_s": rows / capture_s,
            "capture_cpu_ms_per_1000": capture_cpu / rows * 1e6,
        }


def _update(path: Path, count: int, tag: str) -> None:
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "UPDATE items SET v = ? WHERE id = ?", ((f"{tag}{i:08d}" + "y" * 190, i) for i in range(count))
        )
    db.close()


def _alternate(
    first: Node, second: Node, rows: int, flag: str, order: tuple[str, str], write: Callable[[int], None]
) -> dict[str, float]:
    """Rows/s of `rows` versions pulled four times, the modes of `order` alternately (the
    receiver's Store `flag` True for "batch" and "merge"), best of 2 each; `write(turn)`
    makes the versions of each turn."""
    out: dict[str, list[float]] = {mode: [] for mode in order}
    for turn in range(4):
        mode = order[turn % 2]
        setattr(second.store, flag, mode in ("batch", "merge"))
        write(turn)
        first.store.stamp()
        wall = time.perf_counter()
        report = second.run_round()
        assert report is not None and report.ok and report.received == rows, report
        out[mode].append(rows / (time.perf_counter() - wall))
    setattr(second.store, flag, True)
    return {mode: max(rates) for mode, rates in out.items()}


def inserts(first: Node, second: Node, rows: int) -> dict[str, float]:
    """Rows/s applied for new rows with the batch apply and row by row, alternately."""
    return _alternate(first, second, rows, "batch_apply", ("batch", "each"),
                      lambda turn: _insert(first.store.path, rows * (turn + 1), rows))  # fmt: skip


def updates(first: Node, second: Node, rows: int) -> dict[str, float]:
    """Rows/s applied when every row already exists on the receiver (each goes through the
    merge), with the column merge on and with whole-row last-writer-wins, alternately."""
    return _alternate(first, second, rows, "column_merge", ("whole", "merge"),
                      lambda turn: _update(first.store.path, rows, f"u{turn}"))  # fmt: skip


def _has(path: Path, key: int) -> bool:
    db = sqlite3.connect(path, timeout=5)
    try:
        return db.execute("SELECT 1 FROM items WHERE id = ?", (key,)).fetchone() is not None
    finally:
        db.close()


def propagation(folder: Path, writes: int) -> dict[str, float]:
    """p50/p99 seconds until a write on one member is on all five."""
    nodes: list[NodeDir] = make_nodes(folder, [f"127.0.0.{73 + i}" for i in range(5)])
    try:
        nodes[0].cli("create")
        nodes[0].start()
        for node in nodes[1:]:
            node.cli("join", "--peer", nodes[0].peer)
            node.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until everyone knows all five members
            counts = []
            for node in nodes:
                db = sqlite3.connect(node.db)
                counts.append(db.execute("SELECT count(*) FROM _cs_members").fetchone()[0])
                db.close()
            if counts == [5] * 5:
                break
            time.sleep(0.1)
        latencies = []
        for w in range(writes):
            origin = nodes[w % 5]
            key = 10_000_000 + w
            start = time.perf_counter()
            _insert(origin.db, key, 1)
            waiting = [n for n in nodes if n is not origin]
            limit = start + 20
            while waiting and time.perf_counter() < limit:
                waiting = [n for n in waiting if not _has(n.db, key)]
                time.sleep(0.005)
            if waiting:
                print(f"write {w}: not everywhere after 20 s", file=sys.stderr)
                continue
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        return {
            "writes": len(latencies),
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "max_ms": latencies[-1] * 1000,
        }
    finally:
        for node in nodes:
            node.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--writes", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    collector.tune()  # as `clustersync run` does (habase/collector.py)
    with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
        t = throughput(Path(tmp) / "pair", args.rows)
        print(
            f"apply between two members: {t['apply_rows_per_s']:,.0f} rows/s of 200-byte rows "
            f"({t['rows']:,} rows in {t['session_s']:.2f} s, one session); "
            f"CPU {t['cpu_ms_per_1000']:.1f} ms per 1,000 rows (both sides), "
            f"{t['receiver_cpu_ms_per_1000']:.1f} ms receiving and applying"
        )
        print(
            f"apply of new rows: batch {t['insert_batch_rows_per_s']:,.0f} rows/s, "
            f"row by row {t['insert_each_rows_per_s']:,.0f} rows/s "
            f"(ratio {t['insert_batch_rows_per_s'] / t['insert_each_rows_per_s']:.2f}, best of 2 each)"
        )
        print(
            f"apply of updates to existing rows: column merge {t['update_merge_rows_per_s']:,.0f} rows/s, "
            f"whole-row LWW {t['update_whole_rows_per_s']:,.0f} rows/s "
            f"(merge/whole {t['update_merge_rows_per_s'] / t['update_whole_rows_per_s']:.2f}, best of 2 each)"
        )
        print(
            f"change capture (versioning): {t['capture_rows_per_s']:,.0f} rows/s, "
            f"CPU {t['capture_cpu_ms_per_1000']:.1f} ms per 1,000 rows"
        )
        x = two_processes(Path(tmp) / "apart", args.rows)
        print(
            f"apply of new rows from a member in another process: batch {x['batch_rows_per_s']:,.0f} rows/s, "
            f"row by row {x['each_rows_per_s']:,.0f} rows/s (best of 2 each); CPU per 1,000 rows: "
            f"receiver {x['receiver_cpu_ms_per_1000']:.1f} ms "
            f"(row by row {x['each_receiver_cpu_ms_per_1000']:.1f}), "
            f"sender {x['sender_cpu_ms_per_1000']:.1f} ms"
        )
        if not args.writes:
            return 0
        p = propagation(Path(tmp) / "ring", args.writes)
        print(
            f"propagation around a 5-member ring (sync_interval 0.5 s): every member has the write after "
            f"p50 {p['p50_ms']:.0f} ms, p99 {p['p99_ms']:.0f} ms, max {p['max_ms']:.0f} ms "
            f"({p['writes']:.0f} writes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
