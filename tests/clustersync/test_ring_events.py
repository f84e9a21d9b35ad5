"""Ring of 4 real members mailing through a real SMTP server: failover, failback, no available node.

Exactly one mail per transition, none per retry. Addresses 127.0.0.100-103, SMTP on .119.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from .ha import Mailbox, activity, http, mailbox, metric, running_cluster, status
from .nodes import NodeDir, wait_for

__all__ = ["mailbox"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def ring(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[list[NodeDir]]:
    with running_cluster(tmp_path, 4, 100, smtp_port=mailbox[1]) as nodes:
        yield nodes


def test_failover_failback_and_no_available_node_one_mail_each(
    ring: list[NodeDir], mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    n1, n2, n3, n4 = ring
    wait_for(lambda: activity(n1) == "green", 20, "n1 syncing with its successor n2")
    # Setup may have mailed (n1 tried n2 between its join and its start): settle, then count from here.
    wait_for(lambda: box.kinds("n1")[-1:] in ([], ["failback"]), 20, "n1's setup mails to settle")
    start = len(box.subjects("n1"))
    assert status(n1)["alarms"]["activity"]["successor"] == "n2"

    assert n2.proc is not None
    n2.proc.send_signal(signal.SIGSTOP)
    wait_for(lambda: activity(n1) == "yellow", 20, "n1 to fail over (activity yellow)")
    wait_for(lambda: len(box.kinds("n1", start)) >= 2, 20, "the failure and failover mails")
    assert box.kinds("n1", start) == ["failure", "failover"]
    failure = box.subjects("n1")[start]
    assert "n2" in failure and "timed out" in failure  # the reason is in the mail
    listed = status(n1)
    assert listed["alarms"]["activity"]["state"] == "yellow"
    assert listed["partner"] in ("n3", "n4")
    assert http(n1, "/activity")[0] == 200 and http(n1, "/alarms")[0] == 503

    # n1 keeps retrying n2 every retry_interval: retries send no mail.
    tries = metric(n1, 'clustersync_sessions_total{outcome="error"}')
    wait_for(
        lambda: metric(n1, 'clustersync_sessions_total{outcome="error"}') >= tries + 2, 20, "two more retries"
    )
    assert box.kinds("n1", start) == ["failure", "failover"]

    n2.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: activity(n1) == "green", 20, "n1 to fail back to n2")
    wait_for(lambda: len(box.kinds("n1", start)) >= 3, 20, "the failback mail")
    assert box.kinds("n1", start) == ["failure", "failover", "failback"]
    assert http(n1, "/alarms")[0] == 200

    for node in (n4, n3, n2):
        node.kill(signal.SIGTERM)
    wait_for(lambda: activity(n1) == "red", 20, "n1 with nobody to sync with")
    wait_for(lambda: len(box.kinds("n1", start)) >= 5, 20, "the no-available-node mail")
    assert box.kinds("n1", start) == ["failure", "failover", "failback", "failure", "no available node"]
    assert http(n1, "/activity")[0] == 503
    assert http(n1, "/health")[0] == 200  # ready: nothing is wrong with n1 itself
    assert "no available node" in status(n1)["alarms"]["activity"]["reason"]
    tries = metric(n1, 'clustersync_sessions_total{outcome="error"}')
    wait_for(
        lambda: metric(n1, 'clustersync_sessions_total{outcome="error"}') >= tries + 6, 20, "two more rounds"
    )
    assert box.kinds("n1", start) == ["failure", "failover", "failback", "failure", "no available node"]
    for node in ring:  # the others mailed their own transitions, each once too
        subjects = box.subjects(node.node_id)
        assert all(a != b for a, b in pairwise(subjects)), subjects
