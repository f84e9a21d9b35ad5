"""What the newer check kinds cost, against the telnet (TCP connect) check in the same run.

Part 1: one process, 16 threads, each kind for a fixed time against local servers run in
another process (so their CPU is not counted): telnet (the baseline: connect, banner),
sip over UDP and over TCP (OPTIONS, 200 OK), dns (the project's own responder, UDP) and
command (/bin/true: a fork and exec per check). Figures: checks/s and CPU ms per check.
Part 2: webhooks: N notifications queued at once to one local HTTP receiver; time until
the last one is accepted (compare: bench.mail for SMTP).

Run: .venv/bin/python -m bench.checks [--burst 5] [--notices 500]
Everything is on 127.0.23.200-209; every loop is bounded in time or count.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import socket
import socketserver
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from bench import mail
from habase.notify import Notifier
from simplefailover.config import Config, Monitoring, parse_config
from simplefailover.demo.procs import free_port
from simplefailover.dns.service import DnsService
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.pollers import poller_for
from simplefailover.pollers.result import PollResult

ADDRESSES = [f"127.0.23.{i}" for i in range(200, 208)]
RECEIVER = "127.0.23.209"
ZONE = "zone: {name: bench.test}\nnodes: [{id: n, address: 127.0.23.200}]\n"


def _sip_reply(request: bytes) -> bytes:
    head = request.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
    keep = [line for line in head[1:] if line.split(":", 1)[0].lower() in ("via", "from", "call-id", "cseq")]
    to = next((line for line in head[1:] if line.lower().startswith("to:")), "To: <sip:x>")
    lines = ["SIP/2.0 200 OK", *keep, f"{to};tag=b", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _SipTcp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            data += chunk
        self.request.sendall(_sip_reply(data))


class _Banner(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"220 ready\r\n")


def _sip_udp(sock: socket.socket) -> None:
    while True:
        data, peer = sock.recvfrom(65535)
        sock.sendto(_sip_reply(data), peer)


def _serve(ports: dict[str, int]) -> None:
    logging.disable(logging.CRITICAL)
    threads: list[threading.Thread] = []
    for address in ADDRESSES:
        for handler, port in ((_Banner, ports["tcp"]), (_SipTcp, ports["sip"])):
            server = socketserver.ThreadingTCPServer((address, port), handler)
            server.daemon_threads = True
            server.request_queue_size = 512
            threads.append(threading.Thread(target=server.serve_forever, daemon=True))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((address, ports["sip"]))
        threads.append(threading.Thread(target=_sip_udp, args=(udp,), daemon=True))
    for thread in threads:
        thread.start()
    listen = ", ".join(f"'{address}:{ports['dns']}'" for address in ADDRESSES)
    config = parse_config(
        ZONE + "pollings: [{id: p, method: tcp, port: 9}]\nhostnames: [{name: www, polling: p}]\n"
        f"dns: {{listen: [{listen}]}}\n"
    )
    engine = Engine(config)
    engine.record("n", "p", PollResult(True, 0.001, "", time.time()))
    DnsService(config, engine, Metrics()).start()
    threading.Event().wait(3600)


def _config(ports: dict[str, int]) -> Config:
    nodes = "\n".join(f"  - {{id: n{i}, address: {a}}}" for i, a in enumerate(ADDRESSES))
    return parse_config(
        "zone: {name: bench.test}\nnodes:\n" + nodes + "\npollings:\n"
        f"  - {{id: telnet, method: telnet, port: {ports['tcp']}, expect: ready}}\n"
        f"  - {{id: sip-udp, method: sip, port: {ports['sip']}}}\n"
        f"  - {{id: sip-tcp, method: sip, transport: tcp, port: {ports['sip']}}}\n"
        f"  - {{id: dns, method: dns, name: www.bench.test, port: {ports['dns']}}}\n"
        "  - {id: command, method: command, command: [/bin/true]}\n"
        "hostnames: [{name: www, polling: telnet}]\n"
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def throughput(
    config: Config, polling_id: str, seconds: float, workers: int = 16
) -> tuple[float, float, int]:
    """(checks/s, CPU ms per check including child processes, failures) for one polling."""
    poller = poller_for(config.polling(polling_id))
    nodes = list(config.nodes)
    stop = time.monotonic() + seconds
    counts = [0] * workers
    failures = [0] * workers

    def loop(worker: int) -> None:
        i = worker
        while time.monotonic() < stop:
            result = poller.check(nodes[i % len(nodes)])
            counts[worker] += 1
            failures[worker] += not result.ok
            i += workers

    cpu0, wall0 = _cpu(), time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(loop, range(workers)))
    cpu, wall, count = _cpu() - cpu0, time.monotonic() - wall0, sum(counts)
    return count / wall, cpu / max(1, count) * 1000, sum(failures)


class _Accept(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = 0
    done = threading.Event()
    expected = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        type(self).received += 1
        if type(self).received >= type(self).expected:
            type(self).done.set()

    def log_message(self, format: str, *args: object) -> None:
        pass


def webhook_delivery(count: int) -> float:
    """Seconds from queuing `count` notifications to the receiver accepting the last."""
    port = free_port([RECEIVER])
    server = ThreadingHTTPServer((RECEIVER, port), _Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Accept.expected = count
    os.environ["BENCH_HOOK_SECRET"] = "bench"
    hook = {"url": f"http://{RECEIVER}:{port}/hook", "secret_env": "BENCH_HOOK_SECRET"}
    notifier = Notifier(Monitoring.model_validate({"webhooks": [hook]}))
    notifier.start()
    try:
        start = time.monotonic()
        for i in range(count):
            notifier.notify(f"[bench] web KO on n{i}", "Polling failure: ...\n" * 8)
        if not _Accept.done.wait(120):
            raise SystemExit(f"only {_Accept.received} of {count} webhook POSTs arrived in 120 s")
        return time.monotonic() - start
    finally:
        notifier.stop()
        server.shutdown()
        server.server_close()


def mail_delivery(count: int) -> float:
    """The baseline: the same number of notifications through the mail queue (bench.mail's sink)."""
    sink = mail.Sink()
    port = free_port([mail.HOST])
    controller = Controller(sink, hostname=mail.HOST, port=port)
    controller.start()
    try:
        return mail.delivery(port, sink, count)
    finally:
        controller.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=float, default=5, help="seconds per kind in part 1")
    parser.add_argument("--notices", type=int, default=500, help="notifications in part 2")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("simplefailover.notify").setLevel(logging.ERROR)  # no recipients: on purpose
    taken: set[int] = set()
    ports = {kind: free_port(ADDRESSES, udp=True, taken=taken) for kind in ("tcp", "sip", "dns")}
    servers = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    servers.start()
    try:
        config = _config(ports)
        _await(config)
        print(f"machine: {os.cpu_count()} cores; servers in a separate process on {len(ADDRESSES)} addresses")
        print("part 1: one process, 16 threads")
        base = 0.0
        for polling in ("telnet", "sip-udp", "sip-tcp", "dns", "command"):
            rate, cpu_ms, failed = throughput(config, polling, args.burst)
            base = base or cpu_ms
            note = f"  ({failed} failed)" if failed else ""
            print(
                f"  {polling:<8} {rate:8.0f} checks/s   {cpu_ms:6.3f} ms CPU per check "
                f"({cpu_ms / base:4.1f}x telnet){note}"
            )
        seconds = webhook_delivery(args.notices)
        mail_seconds = mail_delivery(args.notices)
        print(
            f"part 2: {args.notices} signed webhook POSTs delivered in {seconds:.2f} s = "
            f"{args.notices / seconds:.0f}/s (one receiver, one queue, kept-alive connection per batch)"
        )
        print(
            f"        the same number of mails through the mail queue, same run: {mail_seconds:.2f} s = "
            f"{args.notices / mail_seconds:.0f}/s (webhooks {mail_seconds / seconds:.1f}x as fast)"
        )
    finally:
        servers.terminate()
        servers.join(5)


def _await(config: Config, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    for polling in ("telnet", "sip-udp", "sip-tcp", "dns"):
        poller = poller_for(config.polling(polling))
        while not (result := poller.check(config.nodes[-1])).ok:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench server for {polling} not answering: {result.error}")
            time.sleep(0.1)


if __name__ == "__main__":
    main()
