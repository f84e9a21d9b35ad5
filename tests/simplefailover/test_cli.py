"""`simplefailover check` as a user runs it: a real subprocess against real demo nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplefailover.config import parse_config
from simplefailover.demo import DemoNode
from tests.support.bind import free_port

ADDRESSES = ["127.0.0.25", "127.0.0.26"]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, list[DemoNode]]]:
    http_port, tcp_port = free_port(ADDRESSES[0]), free_port(ADDRESSES[0])
    text = f"""
zone: {{name: demo.test}}
nodes:
  - {{id: one, address: {ADDRESSES[0]}, priority: 10}}
  - {{id: two, address: {ADDRESSES[1]}, priority: 5}}
pollings:
  - {{id: web, method: http, url: "http://{{address}}:{http_port}/fw/login", expect_body: Login, timeout: 2}}
  - {{id: sip, method: telnet, port: {tcp_port}, expect: ready, timeout: 2}}
hostnames:
  - {{name: ias1, polling: web}}
  - {{name: ias2, polling: sip}}
"""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config = parse_config(text)
    nodes = [DemoNode(node, http_port, [tcp_port]) for node in config.nodes]
    for node in nodes:
        node.start()
    yield path, nodes
    for node in nodes:
        node.stop()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simplefailover", *args], capture_output=True, text=True, timeout=60
    )


def test_check_prints_table_and_answers(setup: tuple[Path, list[DemoNode]]) -> None:
    path, _ = setup
    done = run("check", "-c", str(path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "PRIO",
        "NODE",
        "ADDRESS",
        "POLLING",
        "METHOD",
        "HOSTNAME",
        "STATUS",
        "LATENCY",
        "ERROR",
    ]
    assert sum(" OK " in line for line in lines) == 4
    assert f"ias1.demo.test -> {ADDRESSES[0]}" in done.stdout
    # the why names what the answer rests on: this command's own polls
    assert "is the highest-priority node whose" in done.stdout and "own checks (alone" in done.stdout


def test_check_fails_over_and_reports_all_down(setup: tuple[Path, list[DemoNode]]) -> None:
    path, nodes = setup
    nodes[0].stop()
    done = run("check", "-c", str(path), "--json")
    assert done.returncode == 0
    data = json.loads(done.stdout)
    assert data["answers"]["ias1.demo.test"]["addresses"] == [ADDRESSES[1]]
    assert data["answers"]["ias1.demo.test"]["basis"] == "alone"
    down = [c for c in data["checks"] if c["status"] == "KO"]
    assert {(c["node"], c["error"]) for c in down} == {("one", "connection refused")}
    nodes[1].stop()
    done = run("check", "-c", str(path), "--json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["answers"]["ias1.demo.test"]["all_down"] is True


def test_invalid_config_exits_2_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("zone: {name: t.test}\nnodes: [{id: a, address: nope}]\npollings: []\nhostnames: []\n")
    done = run("check", "-c", str(bad))
    assert done.returncode == 2
    assert "nodes[0].address: value is not a valid IPv4 or IPv6 address (bad.yaml, line 2)" in done.stderr
    assert "pollings: List should have at least 1 item" in done.stderr
    assert "hostnames: List should have at least 1 item" in done.stderr
    assert "Traceback" not in done.stderr


def test_console_script_help() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in ("check", "run", "demo"):
        assert command in done.stdout
