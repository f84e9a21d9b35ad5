"""dnslib's own DNSServer serving the same records as the others, for bench/dns_qps.sh."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver

ZONE = """
bench.test. 3600 IN SOA ns1.bench.test. hostmaster.bench.test. 1 3600 600 86400 30
bench.test. 3600 IN NS ns1.bench.test.
ns1.bench.test. 3600 IN A {node}
ias1.bench.test. 30 IN A {node}
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.34")
    parser.add_argument("--port", type=int, default=15353)
    parser.add_argument("--node", default="127.0.0.31")
    args = parser.parse_args()
    resolver = ZoneResolver(ZONE.format(node=args.node))
    server = DNSServer(resolver, address=args.host, port=args.port, logger=DNSLogger("-"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start_thread()
    print("ready", flush=True)
    stop.wait(600)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
