"""The poll scheduler with real sockets: silent nodes never delay healthy ones."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from itertools import pairwise

import pytest

from habase.ports import free_port
from simplefailover.config import Schedule, parse_config
from simplefailover.pollers.result import PollResult
from simplefailover.scheduler import PollScheduler, next_interval, wants_retry
from simplefailover.state import CheckState, HealthBoard, Status

HEALTHY = [f"127.0.1.{i}" for i in range(1, 41)]
SILENT = [f"127.0.1.{i}" for i in range(41, 51)]


class Greeter(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"hello\r\n")


@pytest.fixture
def cluster_port() -> Iterator[int]:
    """40 greeting servers and 10 silent listeners, all on one port number."""
    port = free_port([*HEALTHY, *SILENT])
    servers = [socketserver.ThreadingTCPServer((addr, port), Greeter) for addr in HEALTHY]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    silent = []
    for addr in SILENT:
        sock = socket.socket()
        sock.bind((addr, port))
        sock.listen(64)  # accepted by the kernel, never answered
        silent.append(sock)
    yield port
    for server in servers:
        server.shutdown()
        server.server_close()
    for sock in silent:
        sock.close()


def test_silent_nodes_never_delay_healthy_checks(cluster_port: int) -> None:
    nodes = "\n".join(f"  - {{id: n{i}, address: {a}}}" for i, a in enumerate(HEALTHY + SILENT))
    config = parse_config(
        f"zone: {{name: t.test}}\nnodes:\n{nodes}\n"
        f"pollings: [{{id: p, method: telnet, port: {cluster_port}, expect: hello, timeout: 3}}]\n"
        "hostnames: [{name: w, polling: p}]\n"
        "schedule: {interval: 0.5, retry_interval: 0.5, fall: 1, rise: 1, jitter: 0.1}\n"
    )
    board = HealthBoard(config)
    lock = threading.Lock()
    seen: dict[str, list[PollResult]] = defaultdict(list)
    done = threading.Event()

    def record(node_id: str, polling_id: str, result: PollResult) -> None:
        with lock:
            board.observe(node_id, polling_id, result)
            seen[node_id].append(result)
            healthy_counts = [len(seen[f"n{i}"]) for i in range(len(HEALTHY))]
            silent_done = all(seen[f"n{i}"] for i in range(len(HEALTHY), len(HEALTHY) + len(SILENT)))
            if min(healthy_counts) >= 8 and silent_done:
                done.set()

    scheduler = PollScheduler(config, record, lambda n, p: board.checks.get((n, p)))
    scheduler.start()
    try:
        assert done.wait(30), "healthy nodes were not checked often enough"
        # The connection watcher ran all along (the default): it holds connections to the
        # silent listeners and reconnects to the greeters, which close at once, and never
        # delayed a poll (the gaps below).
        watcher = scheduler.watcher
        assert watcher is not None
        assert not watcher.excluded((SILENT[0], cluster_port))  # silent with or without it
    finally:
        scheduler.stop()
    with lock:
        for i in range(len(HEALTHY)):
            results = seen[f"n{i}"]
            assert all(r.ok for r in results)
            gaps = [b.at - a.at for a, b in pairwise(results)]
            # The silent nodes hang for 3 s each; healthy checks keep their 0.5 s pace.
            assert max(gaps) < 2.0, f"n{i} waited {max(gaps):.2f}s between checks"
        for i in range(len(HEALTHY), len(HEALTHY) + len(SILENT)):
            first = seen[f"n{i}"][0]
            assert not first.ok
            assert "not received within 3s" in first.error
        assert board.table.answers["w.t.test"].node_ids == ("n0",)


def test_a_check_never_overlaps_itself(cluster_port: int) -> None:
    config = parse_config(
        f"zone: {{name: t.test}}\nnodes: [{{id: s, address: {SILENT[0]}}}]\n"
        f"pollings: [{{id: p, method: telnet, port: {cluster_port}, expect: hello, timeout: 0.5}}]\n"
        "hostnames: [{name: w, polling: p}]\n"
        "schedule: {interval: 0.1, retry_interval: 0.1, fall: 1, rise: 1, jitter: 0}\n"
    )
    results: list[PollResult] = []
    finished = threading.Event()

    def record(node_id: str, polling_id: str, result: PollResult) -> None:
        results.append(result)
        if len(results) >= 3:
            finished.set()

    scheduler = PollScheduler(config, record, lambda n, p: None)
    scheduler.start()
    try:
        assert finished.wait(15)
    finally:
        scheduler.stop()
    # Each check hangs for its 0.5 s timeout while the interval is 0.1 s: had a second
    # instance started, it would have begun before the first one finished.
    for earlier, later in pairwise(results):
        assert later.at - later.latency >= earlier.at - 0.01


@pytest.mark.parametrize(
    ("state", "retry"),
    [
        (None, True),
        (CheckState(), True),
        (CheckState(Status.OK, successes=3), False),
        (CheckState(Status.OK, failures=1), True),
        (CheckState(Status.KO, failures=4), True),
        (CheckState(Status.KO, successes=1), True),
    ],
)
def test_retry_interval_while_failing(state: CheckState | None, retry: bool) -> None:
    assert wants_retry(state) is retry


def test_interval_returns_to_normal_once_settled(cluster_port: int) -> None:
    config = parse_config(
        f"zone: {{name: t.test}}\nnodes: [{{id: h, address: {HEALTHY[0]}}}]\n"
        f"pollings: [{{id: p, method: telnet, port: {cluster_port}, timeout: 1}}]\n"
        "hostnames: [{name: w, polling: p}]\n"
        "schedule: {interval: 60, retry_interval: 0.2, fall: 1, rise: 1, jitter: 0}\n"
    )
    board = HealthBoard(config)
    got = threading.Event()

    def record(node_id: str, polling_id: str, result: PollResult) -> None:
        board.observe(node_id, polling_id, result)
        got.set()

    scheduler = PollScheduler(config, record, lambda n, p: board.checks.get((n, p)))
    scheduler.start()
    try:
        assert got.wait(10)
        deadline = time.monotonic() + 5
        while scheduler._intervals.get("p@h") != 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scheduler._intervals["p@h"] == 60
    finally:
        scheduler.stop()


SCHEDULE = Schedule(interval=10, retry_interval=5, confirm_interval=0.25)


@pytest.mark.parametrize(
    ("state", "event", "latency", "expected"),
    [
        (CheckState(Status.OK, successes=3), False, 0.01, 10),  # steadily OK
        (CheckState(Status.OK, successes=3), True, 0.01, 10),  # an event, and the check was fine
        (CheckState(Status.OK, failures=1), True, 0.001, 0.25),  # an event found it: confirm_interval
        (CheckState(Status.OK, failures=1), False, 0.001, 4.999),  # a poll found it, refused at once
        (CheckState(Status.OK, failures=1), False, 5.0, 0.25),  # a poll timed out: confirm right after
        (CheckState(Status.OK, failures=1), False, 2.0, 3.0),  # retry_interval from the check's start
        (CheckState(Status.KO, failures=2), True, 0.001, 5),  # KO: retry_interval, events or not
        (CheckState(Status.KO, successes=1), True, 0.001, 5),  # rise is deliberate
        (CheckState(), False, 0.001, 5),  # not settled
    ],
)
def test_next_interval(state: CheckState, event: bool, latency: float, expected: float) -> None:
    assert next_interval(SCHEDULE, state, event, latency) == pytest.approx(expected)
