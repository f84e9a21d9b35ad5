"""Run the real service (engine, pollers, DNS, dashboard, mail) for bench/dns_qps.sh.

The one node answers its TCP poll, so ias1 answers that node: the failover record.
With --only-dns, only the DNS service and the pollers run: a peer measured in the same
run, to show what the rest of the service costs. Prints "ready" once DNS answers, then
serves until SIGTERM, then prints how many polls ran meanwhile, whether the
dashboard answered, and whether a second node taken down 2 s into the load was seen
KO and mailed to a local SMTP sink (polling, the dashboard and mail must keep working
under load).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from habase.service import ServiceGroup
from simplefailover.daemon import Daemon
from simplefailover.demo.mailsink import MailSink
from simplefailover.demo.procs import free_port
from simplefailover.metrics import Metrics

PROBE_DOWN_AFTER = 2.0  # seconds after ready

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
  - {{id: q, method: tcp, port: {probe_port}, timeout: 1}}
hostnames:
  - {{name: ias1, polling: p}}
  - {{name: probe, polling: q}}
schedule: {{interval: 0.5, retry_interval: 0.5, fall: 1, rise: 1}}
dns: {{listen: ["{host}:{port}"]}}
dashboard: {{listen: "127.0.0.1:0"}}
monitoring:
  recipients: [ops@bench.test]
  smtp: {{host: {node}, port: {smtp_port}, security: none, sender: sf@bench.test}}
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.33")
    parser.add_argument("--port", type=int, default=15353)
    parser.add_argument("--node", default="127.0.0.31")
    parser.add_argument("--only-dns", action="store_true", help="run only the DNS service and the pollers")
    args = parser.parse_args()
    target, probe = _listener(args.node), _listener(args.node)
    mails: list[str] = []
    sink = MailSink(args.node, free_port([args.node]), mails.append)
    sink.start()
    folder = Path(tempfile.mkdtemp(prefix="sf-bench-"))
    path = folder / "config.yaml"
    text = CONFIG.format(
        node=args.node,
        poll_port=target.getsockname()[1],
        probe_port=probe.getsockname()[1],
        smtp_port=sink.address.rsplit(":", 1)[1],
        host=args.host,
        port=args.port,
    )
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
    # Under load (dnsperf starts once DNS answers): the probe node goes down, which
    # must still be detected and mailed while the responder is saturated.
    threading.Timer(PROBE_DOWN_AFTER, _take_down, [probe]).start()
    stop.wait(600)
    polls = _polls(metrics) - before
    dashboard = _dashboard_ok(daemon) if not args.only_dns else "not running"
    probe_state = daemon.engine.check_state("n1", "q")
    daemon.stop()
    sink.stop()
    print(
        f"polls during the run: {polls:.0f}; dashboard answered: {dashboard};"
        f" probe seen {probe_state.status.value if probe_state else '?'}; mails received: {len(mails)}",
        flush=True,
    )
    return 0


def _listener(host: str) -> socket.socket:
    """A TCP port that accepts and closes at once: a healthy node for the TCP poll."""
    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen(64)

    def accept() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed: the node is down
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return sock


def _take_down(sock: socket.socket) -> None:
    """Stop listening (shutdown wakes the accepting thread on Linux; close alone may not)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


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
