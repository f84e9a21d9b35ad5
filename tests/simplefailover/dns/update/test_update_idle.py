"""The updater thread sleeps while it has nothing to do (it once spun a core, starving DNS)."""

from __future__ import annotations

import threading

import pytest

from simplefailover.config import parse_config
from simplefailover.dns.update import IDLE_WAIT, DnsUpdater
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics

BASE = """
zone: {name: idle.test}
nodes: [{id: n1, address: 127.0.0.81, priority: 10}]
pollings: [{id: p, method: tcp, port: 9}]
hostnames: [{name: ias1, polling: p}]
dns:
  listen: []
"""
WITH_SECTION = BASE + "  update: {server: 127.0.0.81, port: 9, key_name: k, secret_env: SF_IDLE_TSIG}\n"


@pytest.mark.parametrize("text", [BASE, WITH_SECTION], ids=["no update section", "before first polls"])
def test_idle_updater_waits_instead_of_spinning(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_IDLE_TSIG", "c2VjcmV0")
    config = parse_config(text)
    updater = DnsUpdater(config, Engine(config), Metrics())
    updater.start()
    try:
        watched = 3 * IDLE_WAIT
        threading.Event().wait(watched)  # nothing to await: this checks that nothing happens
        turns = updater.wakeups
    finally:
        updater.stop()
    # A loop waiting IDLE_WAIT turns about 3 times here; a spinning one, hundreds of thousands.
    assert turns <= watched / IDLE_WAIT + 3, f"{turns} loop turns in {watched} s while idle"
