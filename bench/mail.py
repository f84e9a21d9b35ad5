"""What mail costs the poll path, and how fast the queue delivers.

Part 1, poll path: `engine.record` for results that each flip a check (OK <-> KO, so
every call yields transitions worth a mail), timed without and with the mail service
subscribed, in the same run; the ratio is the figure.
Part 2, delivery: N mails queued at once to a real SMTP server (aiosmtpd) on loopback;
time until the last one is received.

Run: .venv/bin/python -m bench.mail [--flips 20000] [--mails 500]
Everything is on 127.0.0.58; every loop is bounded in count.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from typing import Any

from aiosmtpd.controller import Controller

from habase.notify import Notifier
from simplefailover.config import Monitoring, parse_config
from simplefailover.demo.procs import free_port
from simplefailover.engine import Engine
from simplefailover.notify import AlertService
from simplefailover.pollers.result import PollResult

HOST = "127.0.0.58"
CONFIG = """
zone: {name: bench.test}
nodes:
  - {id: a, address: 127.0.0.58, priority: 10}
  - {id: b, address: 127.0.0.59, priority: 5}
pollings: [{id: web, method: tcp, port: 9}]
hostnames: [{name: www, polling: web}]
schedule: {fall: 1, rise: 1}
monitoring:
  recipients: [ops@example.com]
  smtp: {host: 127.0.0.58, port: PORT, security: none}
  storm_threshold: 1000000
"""


class Sink:
    def __init__(self) -> None:
        self.count = 0
        self.done = threading.Event()
        self.expected = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        return "250 OK"


def flips(engine: Engine, count: int) -> float:
    """Seconds per record() call, each one flipping node a."""
    engine.record("b", "web", PollResult(True, 0.001, "", time.time()))
    start = time.perf_counter()
    for i in range(count):
        engine.record("a", "web", PollResult(i % 2 == 1, 0.001, "" if i % 2 else "refused", time.time()))
    return (time.perf_counter() - start) / count


def poll_path(port: int, count: int, rounds: int) -> tuple[float, float]:
    config = parse_config(CONFIG.replace("PORT", str(port)))
    bare, with_mail = [], []
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        bare.append(flips(Engine(config), count))
        engine = Engine(config)
        alerts = AlertService(config, engine)
        engine.subscribe(alerts.on_transitions)
        alerts.start()
        with_mail.append(flips(engine, count))
        alerts.notifier._queue._pending.clear()  # do not mail the flood; only the poll path counts
        alerts.stop()
    return statistics.median(bare), statistics.median(with_mail)


def delivery(port: int, sink: Sink, mails: int) -> float:
    monitoring = Monitoring.model_validate(
        {"recipients": ["ops@example.com"], "smtp": {"host": HOST, "port": port, "security": "none"}}
    )
    notifier = Notifier(monitoring)
    sink.count, sink.expected = 0, mails
    sink.done.clear()
    notifier.start()
    start = time.perf_counter()
    for i in range(mails):
        notifier.notify(f"bench {i}", "body\n" * 10)
    if not sink.done.wait(120):
        raise SystemExit(f"only {sink.count} of {mails} mails arrived in 120 s")
    elapsed = time.perf_counter() - start
    notifier.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flips", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mails", type=int, default=500)
    args = parser.parse_args()
    # Every flip logs a WARNING; keep the log out of both sides of the comparison.
    logging.disable(logging.CRITICAL)
    sink = Sink()
    port = free_port([HOST])
    controller = Controller(sink, hostname=HOST, port=port)
    controller.start()
    try:
        bare, with_mail = poll_path(port, args.flips, args.rounds)
        print(
            f"engine.record with a flip, no mail service: {bare * 1e6:8.1f} us/call (median of {args.rounds})"
        )
        print(f"engine.record with a flip, mail service on : {with_mail * 1e6:8.1f} us/call")
        print(f"ratio with/without: {with_mail / bare:.2f}")
        elapsed = delivery(port, sink, args.mails)
        print(
            f"delivery: {args.mails} mails queued at once, all received in {elapsed:.2f} s "
            f"({args.mails / elapsed:.0f} mails/s over one SMTP connection)"
        )
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
