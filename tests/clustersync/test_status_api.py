"""The HTTP health endpoints on the control port, `status`, and `service stop|start` (127.0.0.112-113)."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .conftest import content
from .ha import Mailbox, configure, http, mailbox, metric, running_cluster, status
from .nodes import NodeDir, wait_for

__all__ = ["mailbox"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def pair(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[list[NodeDir]]:
    with running_cluster(tmp_path, 2, 112, smtp_port=mailbox[1]) as nodes:
        yield nodes


def raw(address: tuple[str, int], data: bytes) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_health_endpoints_status_codes_content_and_time_alignment(
    pair: list[NodeDir], mailbox: tuple[Mailbox, int]
) -> None:
    n1 = pair[0]
    wait_for(lambda: http(n1, "/alarms")[0] == 200, 20, "n1 all green")
    code, body = http(n1, "/health")
    assert code == 200 and body == {"state": "green", "ready": True, "reason": "provisioned and ready"}
    for path in ("/readiness", "/liveness", "/activity", "/time", "/status"):
        assert http(n1, path)[0] == 200, path
    states = http(n1, "/status")[1]
    # states only, no data: conflicts waiting are counts by kind (SPEC CL-16)
    assert set(states) == {"node", "readiness", "activity", "time_alignment", "conflicts", "data"}
    assert states["conflicts"] == {}
    # data freshness (simplefailover max_data_lag): the last session that exchanged data
    assert isinstance(states["data"]["last_sync_at"], float) and 0 <= states["data"]["age"] < 60
    assert "127.0.0.113" not in str(states) and "n2" not in str(states)
    head = requests.head(f"http://{n1.address}:{n1.port}/health", timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert http(n1, "/nope")[0] == 404
    metrics = http(n1, "/metrics")[1]
    assert "clustersync_ready 1.0" in metrics and 'clustersync_activity{state="green"} 1.0' in metrics
    assert raw((n1.address, n1.port), b"GET nonsense\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    # Anything else on the control port must authenticate first: only an error comes back.
    assert b"bad greeting" in raw((n1.address, n1.port), b"POST /health HTTP/1.1\r\n\r\n")
    assert b"bad greeting" in raw((n1.address, n1.data_port), b"GET /health HTTP/1.1\r\n\r\n")

    text = n1.cli("status").stdout
    assert "readiness: ready" in text and "activity: green" in text
    lines = {line.split()[1]: line for line in text.splitlines() if line.strip().startswith(("1 ", "2 "))}
    assert "127.0.0.112" in lines["n1"] and "(this node)" in lines["n1"] and "replicated" in lines["n1"]
    assert "127.0.0.113" in lines["n2"] and "(sync partner)" in lines["n2"] and " s" in lines["n2"]
    listed = status(n1)
    assert listed["partner"] == "n2" and listed["replication"] == "running"
    assert [(m["id"], m["position"], m["local"]) for m in listed["members"]] == [
        ("n1", 1, True),
        ("n2", 2, False),
    ]
    assert all(isinstance(m["lag"], float) for m in listed["members"])
    clock_offset_turns_time_alignment_red_and_back(pair, *mailbox)


def clock_offset_turns_time_alignment_red_and_back(pair: list[NodeDir], box: Mailbox, smtp: int) -> None:
    n1, n2 = pair
    wait_for(lambda: http(n1, "/time")[0] == 200, 20, "clocks aligned")
    n2.kill()
    configure(n2, smtp, test_clock_offset=40)  # n2's clock 40 s ahead (limit 15 s)
    n2.start()
    wait_for(lambda: http(n1, "/time")[0] == 503, 20, "n1 to see the offset")
    assert http(n1, "/health")[0] == 200  # ready: only this peer's data waits
    assert "+40" in status(n1)["alarms"]["time_alignment"]["detail"]
    wait_for(lambda: "time not aligned" in box.kinds("n1"), 20, "the time not aligned mail")
    n2.kill()
    configure(n2, smtp)
    n2.start()
    wait_for(lambda: http(n1, "/time")[0] == 200, 20, "clocks aligned again")
    wait_for(lambda: "time aligned" in box.kinds("n1"), 20, "the time aligned mail")
    assert box.kinds("n1").count("time not aligned") == 1


def test_service_stop_and_start(pair: list[NodeDir]) -> None:
    n1, n2 = pair
    wait_for(lambda: http(n2, "/health")[0] == 200, 20, "n2 ready")
    stopped = n2.cli("service", "stop")
    assert "replication stopped on n2" in stopped.stdout
    wait_for(lambda: http(n2, "/health")[0] == 503, 20, "n2 to obey the stop")
    assert "replication stopped" in http(n2, "/health")[1]["reason"]
    assert n2.cli("service", "status", check=False).returncode == 3
    assert "replication: STOPPED" in n2.cli("status").stdout
    db = sqlite3.connect(n1.db)
    with db:
        db.execute("INSERT INTO items (id, v) VALUES (77, 'while n2 is stopped')")
    db.close()
    refused = metric(n1, 'clustersync_sessions_total{outcome="stopped"}')
    wait_for(
        lambda: metric(n1, 'clustersync_sessions_total{outcome="stopped"}') >= refused + 3, 20, "refusals"
    )
    assert 77 not in content(n2.db)
    assert http(n1, "/activity")[0] == 503  # its only peer does not sync

    assert "replication started on n2" in n2.cli("service", "start").stdout
    wait_for(lambda: 77 in content(n2.db), 20, "the row to reach n2 after the start")
    wait_for(lambda: http(n2, "/health")[0] == 200, 20, "n2 ready again")
    assert n2.cli("service", "status").returncode == 0
