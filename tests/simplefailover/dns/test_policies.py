"""Answer policies (SPEC SF-12): priority, all_healthy (rotated), weighted (one per query).

Served by a real DnsService on 127.0.22.10 (UDP), the engine fed with real results.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from dnslib import DNSRecord

from simplefailover.config import parse_config
from simplefailover.dns.service import DnsService
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.pollers.result import PollResult
from simplefailover.state import Status, choose_answer

from .conftest import udp_exchange

CONFIG = """
zone: {name: policy.test, nameservers: [{name: ns1.policy.test, address: 127.0.22.10}]}
nodes:
  - {id: w1, address: 127.0.22.11, priority: 10, weight: 1}
  - {id: w2, address: 127.0.22.12, priority: 10, weight: 3}
  - {id: w3, address: 127.0.22.13, priority: 5, weight: 6}
  - {id: w4, address: 127.0.22.14, priority: 10, weight: 5}
  - {id: w5, address: 127.0.22.15, priority: 20, weight: 0}
pollings: [{id: p, method: tcp, port: 9}]
hostnames:
  - {name: one, polling: p}
  - {name: all, polling: p, policy: all_healthy}
  - {name: web, polling: p, policy: weighted}
dns: {listen: ["127.0.22.10:0"]}
"""
KO = {"w4"}  # w5 is OK but weighs 0: never in a weighted answer
CHI2_DF2_P001 = 13.816  # chi-square critical value, 2 degrees of freedom, p = 0.001


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    config = parse_config(CONFIG)
    engine = Engine(config)
    for node in config.nodes:
        ok = node.id not in KO
        engine.record(node.id, "p", PollResult(ok, 0.001, "" if ok else "refused", time.time()))
    service = DnsService(config, engine, Metrics())
    service.start()
    yield service.addresses[0]
    service.stop()


def addresses(server: tuple[str, int], name: str, qid: int) -> list[str]:
    query = DNSRecord.question(name, "A")
    query.header.id = qid
    reply = DNSRecord.parse(udp_exchange(server, bytes(query.pack())))
    assert reply.header.id == qid
    return [str(rr.rdata) for rr in reply.rr]


def test_priority_answers_the_best_ok_node(server: tuple[str, int]) -> None:
    assert addresses(server, "one.policy.test", 1) == ["127.0.22.15"]


def test_all_healthy_rotates_between_equal_nodes() -> None:
    config = parse_config(CONFIG.replace("priority: 20, weight: 0", "priority: 1, weight: 0"))
    engine = Engine(config)
    for node in config.nodes:
        ok = node.id not in KO
        engine.record(node.id, "p", PollResult(ok, 0.001, "" if ok else "refused", time.time()))
    service = DnsService(config, engine, Metrics())
    service.start()
    try:
        server = service.addresses[0]
        seen = [addresses(server, "all.policy.test", 100 + i) for i in range(6)]
        assert all(sorted(s) == ["127.0.22.11", "127.0.22.12"] for s in seen)  # w4 KO, w3 lower
        assert {s[0] for s in seen} == {"127.0.22.11", "127.0.22.12"}  # each first in turn
        assert addresses(server, "one.policy.test", 1) == ["127.0.22.11"]
    finally:
        service.stop()


def test_weighted_answers_follow_the_weights(server: tuple[str, int]) -> None:
    queries = 3000
    counts: Counter[str] = Counter()
    for i in range(queries):
        [address] = addresses(server, "web.policy.test", i % 65536)  # one address per answer
        counts[address] += 1
    weights = {"127.0.22.11": 1, "127.0.22.12": 3, "127.0.22.13": 6}  # w4 KO, w5 weight 0
    assert set(counts) == set(weights)
    total = sum(weights.values())
    chi2 = sum((counts[a] - queries * w / total) ** 2 / (queries * w / total) for a, w in weights.items())
    assert chi2 < CHI2_DF2_P001, (chi2, counts)


def test_weighted_with_no_ok_node_of_weight_falls_to_when_all_down() -> None:
    config = parse_config(CONFIG)
    hostname = next(h for h in config.hostnames if h.policy == "weighted")
    only_w5 = {n.id: (Status.OK if n.id == "w5" else Status.KO) for n in config.nodes}
    answer = choose_answer(hostname, config.nodes, only_w5, None)
    assert answer.all_down and not answer.weights  # w5 is OK but weighs 0
