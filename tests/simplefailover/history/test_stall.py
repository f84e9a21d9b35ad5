"""A history that cannot write (another process holds its database) delays neither polls nor DNS.

A real `simplefailover run`; this test takes the write lock of its history database and
keeps it while node1 is stopped: DNS moves to node2 as usual, nothing reaches the disk,
and once the lock is let go everything that happened meanwhile is written, none lost.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from simplefailover.config import load_config
from simplefailover.demo.procs import dns_answer, wait_until

from .conftest import HOST, NODES, Service


def test_a_locked_history_delays_no_poll_and_no_answer(service: Service) -> None:
    service.start()
    dns_port = load_config(service.path).dns.addresses()[0][1]

    def checks() -> list[dict[str, Any]]:
        return service.events("--kind", "check")

    wait_until(lambda: len(checks()) == 4, 20, "the first four checks on disk", service.child)
    assert dns_answer(HOST, dns_port, "www.example.test") == (NODES["node1"],)

    locker = sqlite3.connect(service.path.parent / "state" / "history.db", isolation_level=None, timeout=5)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        service.nodes["node1"].stop()
        wait_until(
            lambda: dns_answer(HOST, dns_port, "www.example.test") == (NODES["node2"],),
            30,
            "DNS to answer node2 with the history locked",
            service.child,
        )
        assert len(checks()) == 4  # nothing written meanwhile
        wait_until(lambda: "history: cannot write" in service.child.log.read_text(), 10, "the error logged")
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    def written() -> bool:
        return any(e["new"] == NODES["node2"] for e in service.events("--kind", "answer"))

    wait_until(written, 20, "what happened meanwhile to be written", service.child)
    down = [e for e in checks() if e["node"] == "node1" and e["new"] == "KO"]
    assert {e["polling"] for e in down} == {"web", "sip"}
    assert "history: writing to" in service.child.log.read_text()
