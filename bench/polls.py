"""How many checks one process sustains, and what the production load costs in CPU.

Part 1, throughput: HTTP and TCP pollers hammer local servers (in another process, so
their CPU is not counted) from a pool of threads for a fixed time.
Part 2, the goal: the real scheduler and engine run N nodes x 2 pollings at the default
schedule (interval 10 s), with the connection watcher (the default) and without; the CPU
the process uses over the steady window is the figure (goal: 1,000 nodes x 2 pollings
under 10 % of one core at a 30 s interval, the vendor's).
Part 3, the watcher alone: idle connections to N distinct ports (listeners in this
process that never accept), the CPU of holding them over the window.

Run: .venv/bin/python -m bench.polls [--nodes 10,1000] [--seconds 60]
Everything is on 127.0.2.x; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import socket
import socketserver
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from simplefailover.config import Config, Node, parse_config
from simplefailover.demo.procs import free_port
from simplefailover.engine import Engine
from simplefailover.pollers import poller_for
from simplefailover.scheduler import PollScheduler
from simplefailover.watcher import ConnectionWatcher

SERVER_ADDRESSES = [f"127.0.2.{i}" for i in range(1, 21)]


class _Page(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        body = b"<title>Login</title>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Banner(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"220 ready\r\n")


def _serve(http_port: int, tcp_port: int, ready: threading.Event | None = None) -> None:
    servers: list[socketserver.BaseServer] = []
    for address in SERVER_ADDRESSES:
        servers.append(ThreadingHTTPServer((address, http_port), _Page))
        servers.append(socketserver.ThreadingTCPServer((address, tcp_port), _Banner))
    for server in servers:
        server.daemon_threads = True  # type: ignore[attr-defined]
        server.request_queue_size = 512  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait(3600)


def _config(nodes: int, http_port: int, tcp_port: int, schedule: str) -> Config:
    lines = [
        f"  - {{id: n{i}, address: {SERVER_ADDRESSES[i % len(SERVER_ADDRESSES)]}, priority: {nodes - i}}}"
        for i in range(nodes)
    ]
    return parse_config(
        "zone: {name: bench.test}\nnodes:\n" + "\n".join(lines) + "\n"
        "pollings:\n"
        f'  - {{id: web, method: http, url: "http://{{address}}:{http_port}/fw/login", expect_body: Login}}\n'
        f"  - {{id: sip, method: telnet, port: {tcp_port}, expect: ready}}\n"
        "hostnames: [{name: ias1, polling: web}, {name: ias2, polling: sip}]\n"
        f"schedule: {{{schedule}}}\n"
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def throughput(config: Config, polling_id: str, seconds: float, workers: int = 32) -> tuple[float, float]:
    """Checks per second and CPU milliseconds per check for one polling method."""
    poller = poller_for(config.polling(polling_id))
    nodes: list[Node] = list(config.nodes)
    stop = time.monotonic() + seconds
    count = 0
    failures = 0
    lock = threading.Lock()

    def loop(offset: int) -> None:
        nonlocal count, failures
        i = offset
        while time.monotonic() < stop:
            result = poller.check(nodes[i % len(nodes)])
            i += workers
            with lock:
                count += 1
                failures += not result.ok

    cpu0, wall0 = _cpu(), time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(loop, range(workers)))
    cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
    if failures:
        print(f"  warning: {failures} of {count} {polling_id} checks failed")
    return count / wall, cpu / count * 1000


def scheduled_load(config: Config, seconds: float) -> tuple[float, float, int]:
    """Run the real scheduler; return (CPU % of one core in the steady window, checks/s, checks)."""
    engine = Engine(config)
    counted = 0
    lock = threading.Lock()

    def record(node_id: str, polling_id: str, result: object) -> None:
        nonlocal counted
        engine.record(node_id, polling_id, result)  # type: ignore[arg-type]
        with lock:
            counted += 1

    scheduler = PollScheduler(config, record, engine.check_state)
    scheduler.start()
    try:
        if not engine.ready.wait(120):
            raise SystemExit("first round of polls did not finish within 60 s")
        warm = min(10.0, seconds / 4)
        time.sleep(warm)  # let the start-up burst and interval switch settle
        cpu0, wall0, n0 = _cpu(), time.monotonic(), counted
        time.sleep(seconds)
        cpu, wall, n = _cpu() - cpu0, time.monotonic() - wall0, counted - n0
    finally:
        scheduler.stop()
    down = [k for k, s in engine.snapshot().checks.items() if s.status.value != "OK"]
    if down:
        print(f"  warning: {len(down)} checks not OK at the end")
    return cpu / wall * 100, n / wall, n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", default="10,1000", help="node counts of part 2, comma-separated")
    parser.add_argument("--seconds", type=float, default=60, help="steady window of parts 2 and 3")
    parser.add_argument("--burst", type=float, default=5, help="seconds of part 1 per method")
    parser.add_argument("--watch-ports", type=int, default=1000, help="idle connections of part 3")
    args = parser.parse_args(argv)

    http_port, tcp_port = free_port(SERVER_ADDRESSES[:1]), free_port(SERVER_ADDRESSES[:1])
    servers = multiprocessing.Process(target=_serve, args=(http_port, tcp_port), daemon=True)
    servers.start()
    try:
        _await_servers(http_port, tcp_port)
        where = f"servers in a separate process on {len(SERVER_ADDRESSES)} addresses"
        print(f"machine: {os.cpu_count()} cores; {where}")
        print("part 1: throughput of one process, 32 threads")
        config = _config(10, http_port, tcp_port, "")
        for polling_id, label in (("web", "http"), ("sip", "telnet")):
            rate, cpu_ms = throughput(config, polling_id, args.burst)
            print(f"  {label:<7} {rate:8.0f} checks/s   {cpu_ms:6.3f} ms CPU per check")
        print(f"part 2: N nodes x 2 pollings, the real scheduler, steady window {args.seconds:.0f} s")
        for nodes in (int(n) for n in args.nodes.split(",")):
            for schedule in ("interval: 10", "interval: 10, watch: false", "interval: 30"):
                config = _config(nodes, http_port, tcp_port, schedule)
                cpu_pct, rate, _ = scheduled_load(config, args.seconds)
                expected = nodes * 2 / config.schedule.interval
                print(
                    f"  {nodes:5d} nodes, {schedule:<26} {rate:7.1f} checks/s (expected {expected:.1f}), "
                    f"CPU {cpu_pct:5.2f} % of one core"
                )
        print(f"part 3: the watcher alone, {args.watch_ports} idle connections, window {args.seconds:.0f} s")
        cpu_pct = watcher_load(args.watch_ports, args.seconds)
        print(f"  CPU {cpu_pct:.2f} % of one core")
    finally:
        servers.terminate()
        servers.join(5)


def watcher_load(count: int, seconds: float) -> float:
    """CPU % of one core of a ConnectionWatcher holding `count` idle connections."""
    per_address = -(-count // len(SERVER_ADDRESSES))
    listeners = []
    wanted: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {}
    for address in SERVER_ADDRESSES:
        for _ in range(per_address):
            if len(wanted) == count:
                break
            sock = socket.create_server((address, 0), backlog=8)  # never accepts: the kernel holds them
            listeners.append(sock)
            wanted[(address, sock.getsockname()[1])] = ((f"n{len(wanted)}", "web"),)
    watcher = ConnectionWatcher(lambda *a: None, 0.25, 5, 5)
    watcher.start()
    try:
        watcher.watch(wanted)
        deadline = time.monotonic() + 60
        while not all(watcher.connected(a) for a in wanted):
            if time.monotonic() > deadline:
                raise SystemExit("the watcher did not connect everywhere within 60 s")
            time.sleep(0.1)
        cpu0, wall0 = _cpu(), time.monotonic()
        time.sleep(seconds)
        return (_cpu() - cpu0) / (time.monotonic() - wall0) * 100
    finally:
        watcher.stop()
        for sock in listeners:
            sock.close()


def _await_servers(http_port: int, tcp_port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    for port in (http_port, tcp_port):
        while True:
            try:
                socket.create_connection((SERVER_ADDRESSES[-1], port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("bench servers did not start") from None
                time.sleep(0.05)


if __name__ == "__main__":
    main()
