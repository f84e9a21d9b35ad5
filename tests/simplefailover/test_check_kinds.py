"""`simplefailover check` with the newer kinds (sip, dns, command) and a TLS certificate column."""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.sip import SipResponder, sip_responder

ONE, TWO = "127.0.23.70", "127.0.23.71"  # a SIP responder on ONE; nothing on TWO


@pytest.fixture(scope="module")
def responder() -> Iterator[SipResponder]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5)
    trustme.CA().issue_cert(ONE, not_after=soon).configure_cert(context)
    with sip_responder(ONE, context) as running:
        yield running


def config(tmp_path: Path, responder: SipResponder) -> Path:
    program = f"import sys; sys.exit(0 if sys.argv[1] == '{ONE}' else 2)"
    text = f"""
zone: {{name: kinds.test}}
nodes:
  - {{id: one, address: {ONE}, priority: 10}}
  - {{id: two, address: {TWO}, priority: 5}}
pollings:
  - {{id: options, method: sip, port: {responder.udp_port}, timeout: 1}}
  - {{id: options-tls, method: sip, transport: tls, port: {responder.tls_port}, verify_tls: false}}
  - {{id: plugin, method: command, command: ["{sys.executable}", -c, "{program}", "{{address}}"]}}
  - {{id: resolver, method: dns, name: kinds.test, port: 9, timeout: 0.5}}
hostnames:
  - {{name: pbx, polling: options}}
  - {{name: app, polling: plugin}}
"""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simplefailover", *args], capture_output=True, text=True, timeout=60
    )


def test_check_table_shows_every_kind_and_certificate_days(tmp_path: Path, responder: SipResponder) -> None:
    done = run("check", "-c", str(config(tmp_path, responder)))
    assert done.returncode == 0, done.stderr  # pbx and app each have an OK node
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "PRIO", "NODE", "ADDRESS", "POLLING", "METHOD", "HOSTNAME", "STATUS", "LATENCY", "CERT", "ERROR"
    ]  # fmt: skip
    rows = {(line.split()[1], line.split()[3]): line for line in lines[1:9]}
    assert " sip " in rows["one", "options"] and " OK " in rows["one", "options"]
    assert " KO " in rows["two", "options"]
    assert " 5 days (!) " in rows["one", "options-tls"]
    assert " command " in rows["one", "plugin"] and " OK " in rows["one", "plugin"]
    assert rows["two", "plugin"].endswith("CRITICAL (exit 2)")
    assert " dns " in rows["one", "resolver"] and " KO " in rows["one", "resolver"]
    assert f"pbx.kinds.test -> {ONE}" in done.stdout and f"app.kinds.test -> {ONE}" in done.stdout


def test_check_json_has_the_certificate(tmp_path: Path, responder: SipResponder) -> None:
    done = run("check", "-c", str(config(tmp_path, responder)), "--json")
    data = json.loads(done.stdout)
    days = {(c["node"], c["polling"]): c["cert_days_left"] for c in data["checks"]}
    assert 4.9 <= days["one", "options-tls"] <= 5
    assert days["one", "options"] is None and days["two", "options-tls"] is None
    assert {c["method"] for c in data["checks"]} == {"sip", "command", "dns"}
