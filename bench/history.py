"""How long the history page takes with a week of history, and what a flapping storm does to it.

1. A week of history for 10 nodes x 2 pollings: a real Engine and the real history service
   are fed one result a minute per check (201,600 results, outages of a few minutes each
   day), with their past times, as `simplefailover run` would have recorded them.
   Flask's test client then times GET /history for the hour, day and week, and, in the
   same run, GET / (the page without history) as the peer. Goal: under 200 ms.
2. A flapping storm of 100,000 transitions (fall 1, rise 1, one check flipping every
   result) into a store limited to --storm-mb: its size is sampled as it is written,
   and the pages are timed again.
3. The cost on the poll path: what recording a result and a batch of transitions costs
   the poll thread (they only queue), against `Engine.record` itself.

Run: .venv/bin/python -m bench.history [--runs 20] [--storm 100000] [--storm-mb 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from flask.testing import FlaskClient

from simplefailover.config import Config, parse_config
from simplefailover.dashboard import create_app
from simplefailover.engine import Engine
from simplefailover.history import HistoryService, store
from simplefailover.metrics import Metrics
from simplefailover.pollers.result import PollResult

from .render import describe, timed

WEEK = 7 * 86400


def make_config(nodes: int, state: Path, max_mb: float, fall: int = 2) -> Config:
    lines = [
        "zone: {name: imagicle.example.com, ttl: 30}",
        "pollings:",
        '  - {id: poll1, method: http, url: "http://{address}:8080/fw/login"}',
        "  - {id: poll2, method: telnet, port: 5060}",
        "hostnames: [{name: ias1, polling: poll1}, {name: ias2, polling: poll2}]",
        f"schedule: {{fall: {fall}, rise: {fall}}}",
        f"history: {{state_dir: {state}, max_mb: {max_mb}}}",
        "nodes:",
    ]
    lines += [
        f"  - {{id: node{i + 1}, address: 127.0.24.{100 + i}, priority: {nodes - i}}}" for i in range(nodes)
    ]
    return parse_config("\n".join(lines))


def wired(config: Config, path: Path) -> tuple[Engine, HistoryService, FlaskClient, Metrics]:
    engine = Engine(config)
    metrics = Metrics()
    history = HistoryService(config, path, metrics.registry)
    engine.subscribe(history.on_transitions)
    history.start()
    return engine, history, create_app(engine, metrics, history=history).test_client(), metrics


def feed_week(engine: Engine, history: HistoryService, now: float) -> int:
    """One result a minute per check for a week; each check down a few minutes a day."""
    config = engine.config
    count = 0
    start = now - WEEK
    for minute in range(WEEK // 60):
        at = start + minute * 60
        for n, node in enumerate(config.nodes):
            for p, polling in enumerate(config.pollings):
                phase = (minute + 97 * n + 31 * p) % 1440
                ok = not (phase < 4 + n % 3)  # 4 to 6 minutes down each day
                latency = 0.003 + 0.002 * ((minute + n) % 11) / 10 + (0.02 if phase == 700 else 0)
                result = PollResult(ok, latency, "" if ok else "connection refused", at + n * 0.5)
                history.observe_result(node.id, polling.id, result)
                engine.record(node.id, polling.id, result)
                count += 1
        if minute % 2000 == 0:
            history.wait_written(120)
    history.wait_written(300)
    return count


def pages(client: FlaskClient, runs: int, label: str) -> dict[str, float]:
    out = {}
    for path in ("/", "/history?window=hour", "/history?window=day", "/history?window=week"):
        times, size = timed(client, path, runs)
        print(describe(f"  {label} GET {path}", times, size))
        out[path] = statistics.median(times)
    return out


def storm(folder: Path, transitions: int, limit_mb: float, runs: int) -> None:
    config = make_config(2, folder, limit_mb, fall=1)
    engine, history, client, _ = wired(config, folder / "storm.db")
    try:
        now = time.time()
        start = now - transitions * 0.05
        engine.record("node2", "poll1", PollResult(True, 0.01, "", start))
        engine.record("node2", "poll2", PollResult(True, 0.01, "", start))
        engine.record("node1", "poll2", PollResult(True, 0.01, "", start))
        biggest = 0
        began = time.perf_counter()
        for i in range(transitions):
            result = PollResult(i % 2 == 0, 0.004, "" if i % 2 == 0 else "refused", start + i * 0.05)
            history.observe_result("node1", "poll1", result)
            engine.record("node1", "poll1", result)
            if i % 500 == 0:
                biggest = max(biggest, store.size_bytes(history.path))
            if i % 20_000 == 19_999:
                history.wait_written(120)
        history.wait_written(300)
        took = time.perf_counter() - began
        biggest = max(biggest, store.size_bytes(history.path))
        db = history.reader()
        kept = db.execute("SELECT count(*) FROM events").fetchone()[0]
        db.close()
        print(
            f"storm: {transitions:,} transitions (+ as many answer changes) in {took:.1f} s;"
            f" store limit {limit_mb} MB, largest seen {biggest / 1e6:.2f} MB,"
            f" now {store.size_bytes(history.path) / 1e6:.2f} MB with the newest {kept:,} events"
        )
        pages(client, runs, "after the storm")
    finally:
        history.stop()


def poll_path(folder: Path, count: int = 100_000) -> None:
    config = make_config(10, folder, 100)
    engine, history, _, _ = wired(config, folder / "path.db")
    try:
        result = PollResult(True, 0.004, "", time.time())
        t0 = time.perf_counter()
        for _ in range(count):
            history.observe_result("node1", "poll1", result)
        queued = (time.perf_counter() - t0) / count * 1e9
        history.wait_written(60)
        t0 = time.perf_counter()
        for _ in range(count):
            engine.record("node1", "poll1", result)
        record = (time.perf_counter() - t0) / count * 1e9
        print(
            f"poll path: recording a result for the history {queued:.0f} ns (a queue append);"
            f" Engine.record of the same result {record:.0f} ns ({queued / record:.2f}x)"
        )
    finally:
        history.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--storm", type=int, default=100_000)
    parser.add_argument("--storm-mb", type=float, default=5)
    args = parser.parse_args()
    logging.getLogger("simplefailover").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="sf-bench-history-") as tmp:
        folder = Path(tmp)
        config = make_config(10, folder, 100)
        engine, history, client, _ = wired(config, folder / "week.db")
        try:
            began = time.perf_counter()
            results = feed_week(engine, history, time.time())
            size = store.size_bytes(history.path) / 1e6
            print(
                f"a week of 10 nodes x 2 pollings: {results:,} results recorded in"
                f" {time.perf_counter() - began:.1f} s; store {size:.1f} MB"
            )
            week = pages(client, args.runs, "week of history")
        finally:
            history.stop()
        worst = max(v for k, v in week.items() if k != "/")
        verdict = "meets" if worst < 200 else "MISSES"
        print(
            f"slowest history page {worst:.1f} ms median ({verdict} the 200 ms goal);"
            f" {worst / week['/']:.1f}x the page without history in the same run"
        )
        storm(folder, args.storm, args.storm_mb, args.runs)
        poll_path(folder)


if __name__ == "__main__":
    main()
