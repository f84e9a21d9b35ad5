"""The responder's cost per answer by policy (SF-12): does the pre-encoded fast path stay fast?

Queries (ID varying) go straight to `Responder.respond`, in process, for a hostname of each
policy: priority (one address), all_healthy (three, rotated) and weighted (one of three per
query, by weight). The figure that matters is the ratio to priority in the same run.

Run: .venv/bin/python -m bench.policies [--queries 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from dnslib import DNSRecord

from simplefailover.config import parse_config
from simplefailover.dns.responder import Responder
from simplefailover.dns.zone import zone_data
from simplefailover.engine import Engine
from simplefailover.pollers.result import PollResult

CONFIG = """
zone: {name: bench.test}
nodes:
  - {id: a, address: 127.0.22.21, priority: 10, weight: 1}
  - {id: b, address: 127.0.22.22, priority: 10, weight: 3}
  - {id: c, address: 127.0.22.23, priority: 10, weight: 6}
pollings: [{id: p, method: tcp, port: 9}]
hostnames:
  - {name: priority, polling: p}
  - {name: all, polling: p, policy: all_healthy}
  - {name: weighted, polling: p, policy: weighted}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = parse_config(CONFIG)
    engine = Engine(config)
    for node in config.nodes:
        engine.record(node.id, "p", PollResult(True, 0.001, "", time.time()))
    responder = Responder(zone_data(config, engine.table, engine.check_state))
    rates: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for name in ("priority", "all", "weighted"):
            wires = []
            for qid in range(256):
                query = DNSRecord.question(f"{name}.bench.test", "A")
                query.header.id = qid
                wires.append(bytes(query.pack()))
            responder.respond(wires[0], True)  # fills the cache: the rest is the fast path
            respond = responder.respond
            start = time.perf_counter()
            for i in range(args.queries):
                respond(wires[i & 255], True)
            rates.setdefault(name, []).append(args.queries / (time.perf_counter() - start))
    base = statistics.median(rates["priority"])
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:<9} {rate:>12,.0f} answers/s (median of {args.runs})  vs priority {rate / base:.2f}")


if __name__ == "__main__":
    main()
