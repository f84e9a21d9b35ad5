"""How long the dashboard takes to render with many nodes (goal: 1,000 nodes x 2 pollings < 200 ms).

Nothing is polled: fake PollResults go straight into a real Engine (5 % of checks KO),
then Flask's test client times GET / and GET /api/status.
The same is timed with 10 nodes in the same run, so the ratio says how rendering
scales whatever the machine's load.

Run: .venv/bin/python -m bench.render [--nodes 1000] [--runs 30]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from flask.testing import FlaskClient

from simplefailover.config import Config, parse_config
from simplefailover.dashboard import create_app
from simplefailover.dashboard.view import build_view
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.pollers.result import PollResult


def make_config(nodes: int) -> Config:
    """A config with that many nodes on 127.0.x.y, two pollings, a hostname on each."""
    lines = [
        "zone: {name: imagicle.example.com, ttl: 30, ko_ttl: 10}",
        "pollings:",
        '  - {id: poll1, method: http, url: "http://{address}:8080/fw/login"}',
        "  - {id: poll2, method: telnet, port: 5060}",
        "hostnames:",
        "  - {name: ias1, polling: poll1}",
        "  - {name: ias2, polling: poll2}",
        "nodes:",
    ]
    for i in range(nodes):
        lines.append(
            f"  - {{id: node{i + 1}, address: 127.0.{i // 250 + 10}.{i % 250 + 1}, priority: {i % 7}}}"
        )
    return parse_config("\n".join(lines))


def fed_engine(config: Config) -> Engine:
    """An engine that has seen one result per check, 5 % of them KO."""
    engine = Engine(config)
    now = time.time()
    for p, polling in enumerate(config.pollings):
        for n, node in enumerate(config.nodes):
            down = (n + p) % 20 == 0
            error = "connection refused" if down else ""
            engine.record(node.id, polling.id, PollResult(not down, 0.002 + n % 9 / 1000, error, now))
    return engine


def timed(client: FlaskClient, path: str, runs: int) -> tuple[list[float], int]:
    """Milliseconds per request over `runs` requests after one warm-up, and the body size."""
    size = len(client.get(path).data)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return out, size


def describe(label: str, times: list[float], size: int) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (
        f"{label:<34} median {statistics.median(times):7.1f} ms   p90 {p90:7.1f} ms   "
        f"min {ordered[0]:7.1f} ms   {size / 1024:7.0f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    # Thousands of first-result transitions would flood the output.
    logging.getLogger("simplefailover").setLevel(logging.ERROR)
    results: dict[int, float] = {}
    for nodes in (10, args.nodes):
        config = make_config(nodes)
        start = time.perf_counter()
        engine = fed_engine(config)
        fed = time.perf_counter() - start
        client = create_app(engine, Metrics()).test_client()
        rows = len(config.nodes) * len(config.pollings)
        shape = f"{nodes} nodes x {len(config.pollings)} pollings = {rows} rows"
        print(f"{shape} (engine fed in {fed * 1000:.0f} ms)")
        page, size = timed(client, "/", args.runs)
        print(describe("  GET /", page, size))
        api, size = timed(client, "/api/status", args.runs)
        print(describe("  GET /api/status", api, size))
        view = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            build_view(engine.snapshot())
            view.append((time.perf_counter() - t0) * 1000)
        print(f"  snapshot + view rows (in both)  median {statistics.median(view):7.1f} ms")
        results[nodes] = statistics.median(page)
    ratio = results[args.nodes] / results[10]
    verdict = "meets" if results[args.nodes] < 200 else "MISSES"
    print(f"GET / with {args.nodes} nodes: {results[args.nodes]:.1f} ms median ({verdict} the 200 ms goal)")
    print(f"ratio to 10 nodes in the same run: {ratio:.1f}x for {args.nodes / 10:.0f}x the rows")


if __name__ == "__main__":
    main()
