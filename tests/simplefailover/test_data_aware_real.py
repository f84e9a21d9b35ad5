"""Data-aware answers against two real clustersync members (127.0.122.10-11): SIGSTOP one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from simplefailover.config import parse_config
from simplefailover.dashboard.view import as_json, build_view
from simplefailover.datawatch import DataWatch
from simplefailover.engine import Engine
from simplefailover.pollers.result import PollResult
from tests.clustersync.ha import running_cluster
from tests.clustersync.nodes import wait_for

pytestmark = pytest.mark.slow


def test_a_stopped_member_loses_the_answer_and_gets_it_back(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 2, 10, net="127.0.122") as (m1, m2):
        config = parse_config(
            "zone: {name: example.test}\nnodes:\n"
            f"  - {{id: node1, address: {m1.address}, priority: 10, data_url: 'http://{m1.peer}/status'}}\n"
            f"  - {{id: node2, address: {m2.address}, priority: 5, data_url: 'http://{m2.peer}/status'}}\n"
            "pollings: [{id: p, method: tcp, port: 9}]\n"
            "hostnames: [{name: db, polling: p, max_data_lag: 30}, {name: web, polling: p}]\n"
            "schedule: {interval: 1}\n"
        )
        engine = Engine(config)
        for node in ("node1", "node2"):  # both checks OK: only the data decides
            engine.record(node, "p", PollResult(True, 0.001, "", time.time()))
        watch = DataWatch(config, engine)

        def answer(name: str) -> tuple[tuple[str, ...], str]:
            watch.round()
            got = engine.table.answers[f"{name}.example.test"]
            return got.node_ids, got.reason

        wait_for(lambda: answer("db") == (("node1",), answer("web")[1]), 20, "node1 chosen, nothing skipped")
        assert m1.proc is not None
        os.kill(m1.proc.pid, signal.SIGSTOP)  # its clustersync freezes: no answer, no sync
        try:
            wait_for(lambda: answer("db")[0] == ("node2",), 20, "the answer to move to node2")
            why = answer("db")[1]
            assert "node1 skipped: data not ready (clustersync unreachable" in why, why
            assert answer("web")[0] == ("node1",)  # no max_data_lag: the checks alone decide
            shown = as_json(build_view(engine.snapshot()))["data"]  # as /api/status shows it
            assert shown["node1"]["ready"] is False and shown["node2"]["ready"] is True
        finally:
            os.kill(m1.proc.pid, signal.SIGCONT)
        wait_for(lambda: answer("db")[0] == ("node1",), 20, "the answer back on node1")
        assert "skipped" not in answer("db")[1]
