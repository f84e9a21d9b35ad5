"""Run the real service (engine, pollers, DNS, dashboard, mail) for bench/dns_qps.sh.

The one node answers its TCP poll, so ias1 answers that node: the failover record.
With --only-dns, only the DNS service and the pollers run: a peer measured in the same
run, to show what the rest of the service costs. Prints "ready" once DNS answers, then
serves until SIGTERM, then prints how many polls ran meanwhile and whether the
dashboard answered (polling and the dashboard must keep working under load).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from simplefailover.daemon import Daemon
from simplefailover.metrics import Metrics
from simplefailover.service import ServiceGroup

CONFIG = """
zone:
  name: bench.test
  ttl: 30
  nameservers: [{{name: ns1.bench.test, address: {node}}}]
  soa: {{rname: hostmaster.bench.test, minimum: 30}}
nodes:
  - {{id: n1, address: {node}, priority: 10}}
pollings:
  - {{id: p, method: tcp, port: {poll_port}, timeout: 1}}
hostnames:
  - {{name: ias1, polling: p}}
schedule: {{interval: 0.5, retry_interval: 0.5, fall: 1, rise: 1}}
dns: {{listen: ["{host}:{port}"]}}
dashboard: {{listen: "127.0.0.1:0"}}
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.33")
    parser.add_argument("--port", type=int, default=15353)
    parser.add_argument("--node", default="127.0.0.31")
    parser.add_argument("--only-dns", action="store_true", help="run only the DNS service and the pollers")
    args = parser.parse_args()
    target = socket.socket()
    target.bind((args.node, 0))
    target.listen(64)

    def accept() -> None:
        while True:
            conn, _ = target.accept()
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="sf-bench-"))
    path = folder / "config.yaml"
    text = CONFIG.format(node=args.node, poll_port=target.getsockname()[1], host=args.host, port=args.port)
    path.write_text(text)
    daemon = Daemon(path)
    if args.only_dns:  # the peer: the same responder and pollers, without the other services
        daemon.services = _only(daemon.services, {"dns", "pollers"})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    daemon.start()
    daemon.engine.ready.wait(10)
    metrics = daemon.metrics
    print("ready", flush=True)
    before = _polls(metrics)
    stop.wait(600)
    polls = _polls(metrics) - before
    dashboard = _dashboard_ok(daemon) if not args.only_dns else "not running"
    daemon.stop()
    print(f"polls during the run: {polls:.0f}; dashboard answered: {dashboard}", flush=True)
    return 0


def _only(services: ServiceGroup, names: set[str]) -> ServiceGroup:
    group = ServiceGroup()
    for service in services:
        if service.name in names:
            group.add(service)
    return group


def _polls(metrics: Metrics) -> float:
    labels = {"node": "n1", "polling": "p", "status": "OK"}
    return metrics.registry.get_sample_value("simplefailover_poll_results_total", labels) or 0.0


def _dashboard_ok(daemon: Daemon) -> bool:
    for service in daemon.services:
        addresses = getattr(service, "addresses", None)
        if service.name == "dashboard" and addresses:
            host, port = addresses[0]
            try:
                start = time.monotonic()
                with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as response:
                    return response.status == 200 and time.monotonic() - start < 5
            except OSError:
                return False
    return False


if __name__ == "__main__":
    sys.exit(main())
