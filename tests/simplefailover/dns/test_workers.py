"""dns.workers > 1: extra processes on the same UDP ports, fed every table change."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from dnslib import DNSRecord

from simplefailover.dns.service import DnsService
from simplefailover.pollers.result import PollResult

from .conftest import make_config, wait_for

QUERIES = 40


def _answers(address: tuple[str, int]) -> set[str]:
    """ias1's answer seen from many source ports, so every process gets some queries."""
    seen = set()
    for _ in range(QUERIES):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(3)
            sock.sendto(bytes(DNSRecord.question("ias1.zone.test").pack()), address)
            seen.add(str(DNSRecord.parse(sock.recv(512)).rr[0].rdata))
    return seen


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_answer_follow_changes_and_stop(start_dns: Callable[..., DnsService]) -> None:
    service = start_dns(make_config(workers=3))
    pids = service.worker_pids
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    address = service.addresses[0]
    assert _answers(address) == {"127.0.0.31"}
    # The workers answered some of them (their counts arrive every second).
    wait_for(lambda: service.count_by_name().get("NOERROR", 0) > service.responder.counts[0])

    serial = service.responder.data.serial
    for _ in range(service.engine.config.schedule.fall):
        service.engine.record("n1", "p", PollResult(False, 0.001, "refused", time.time()))
    assert service.engine.table.serial > serial
    wait_for(lambda: _answers(address) == {"127.0.0.32"})

    service.stop()
    assert not any(_alive(pid) for pid in pids)
