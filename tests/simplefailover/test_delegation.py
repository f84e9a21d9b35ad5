"""The delegation check against a real BIND holding the parent zone, and its pure judgement."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplefailover.config import Config, parse_config
from simplefailover.ops.delegation import check_delegation, evaluate
from tests.support.bind import Named, free_port, have_named, start_on_free_port

CONFIG = """
zone: {name: imagicle.example.com}
nodes:
  - {id: node1, address: 127.0.0.11, priority: 10}
  - {id: node2, address: 127.0.0.12, priority: 5}
pollings: [{id: p, method: tcp, port: 9, timeout: 0.5}]
hostnames: [{name: ias, polling: p}]
"""

PARENT = """$TTL 300
@ IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 300
@ IN NS ns.example.com.
ns IN A 127.0.0.1
imagicle IN NS ns1.imagicle.example.com.
imagicle IN NS ns2.imagicle.example.com.
ns1.imagicle IN A 127.0.0.11
ns2.imagicle IN A {second}
"""


def config() -> Config:
    return parse_config(CONFIG)


def test_good_delegation_is_ok() -> None:
    report = evaluate(config(), "s", {"ns1.x": ["127.0.0.11"], "ns2.x": ["127.0.0.12"]})
    assert report.ok
    assert report.warnings == []
    assert [t.nodes for t in report.targets] == [("node1",), ("node2",)]


def test_foreign_address_is_a_problem_and_missing_node_a_warning() -> None:
    report = evaluate(config(), "s", {"ns1.x": ["127.0.0.11"], "ns2.x": ["127.0.0.99"]})
    assert not report.ok
    assert report.problems == [
        "NS ns2.x -> 127.0.0.99 is not a cluster node: resolvers sent there get no failover"
    ]
    assert report.warnings == [
        "node node2 (127.0.0.12) is not among the NS targets: its instance is never asked"
    ]


def test_no_delegation_and_unreachable_server() -> None:
    assert "is not delegated" in evaluate(config(), "s", {}).problems[0]
    assert evaluate(config(), "s", {}, "could not ask s").problems == ["could not ask s"]


@pytest.fixture
def parent(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Named]:
    if not have_named():
        pytest.skip("Debian bind9 (/usr/sbin/named) is not installed; make test installs it")
    second = getattr(request, "param", "127.0.0.12")
    conf = 'zone "example.com" { type primary; file "example.com.zone"; };\n'
    files = {"example.com.zone": PARENT.format(second=second)}
    named = start_on_free_port(lambda port: Named(tmp_path / "bind", port, conf, files, "example.com"))
    yield named
    named.stop()


def test_real_parent_with_glue(parent: Named) -> None:
    report = check_delegation(config(), parent.server)
    assert report.ok, report.render()
    assert {t.name: t.addresses for t in report.targets} == {
        "ns1.imagicle.example.com": ("127.0.0.11",),
        "ns2.imagicle.example.com": ("127.0.0.12",),
    }


@pytest.mark.parametrize("parent", ["127.0.0.99"], indirect=True)
def test_real_parent_pointing_elsewhere(parent: Named) -> None:
    report = check_delegation(config(), parent.server)
    assert not report.ok
    assert "127.0.0.99 is not a cluster node" in report.problems[0]


def test_server_that_does_not_answer() -> None:
    report = check_delegation(config(), f"127.0.0.1:{free_port()}", timeout=0.5)
    assert not report.ok
    assert report.problems[0].startswith("could not ask 127.0.0.1:")


def test_check_command_reports_delegation(parent: Named, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        CONFIG.replace(
            "{name: imagicle.example.com}",
            f"{{name: imagicle.example.com, domain_dns_server: '{parent.server}'}}",
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "simplefailover", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"delegation of imagicle.example.com at {parent.server}:" in done.stdout
    assert "verdict: delegation leads to the cluster" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "simplefailover", "check", "-c", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(done.stdout)["delegation"]["ok"] is True
