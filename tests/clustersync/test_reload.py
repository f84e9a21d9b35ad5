"""Reloading `clustersync run`: what a member takes from the new file, what waits for a restart,
and that a file it cannot use leaves the running settings (runner.plan_reload, reload_member)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clustersync.config import Cluster, load_settings
from clustersync.ops import event_log
from clustersync.sync.daemon import Node
from clustersync.sync.runner import RESTART_KEYS, plan_reload, reload_member

from .nodes import NodeDir, make_nodes, wait_for

BASE = Cluster(node_id="n1", address="127.0.16.21", database=Path("/data/app.db"), state_dir=Path("/state"))

CHANGES = {
    "sync_interval": 1.5, "retry_interval": 7.0, "timeout": 2.0, "max_clock_offset": 3.0, "batch_rows": 10,
    "gc_interval": 60.0, "node_id": "n9", "address": "127.0.16.22", "port": 52800, "data_port": 52900,
    "database": Path("/other/app.db"), "state_dir": Path("/other"), "secret_file": Path("/other/secret"),
    "max_message": 65536, "test_clock_offset": 4.0, "test_version": "9.9",
}  # fmt: skip


@given(st.sets(st.sampled_from(sorted(CHANGES))))
def test_live_keys_apply_and_restart_keys_wait(keys: set[str]) -> None:
    new = BASE.model_copy(update={key: CHANGES[key] for key in keys})
    effective, pending = plan_reload(BASE, new)
    assert set(pending) == keys & set(RESTART_KEYS)
    for key in CHANGES:
        expected = CHANGES[key] if key in keys and key not in RESTART_KEYS else getattr(BASE, key)
        assert getattr(effective, key) == expected, key


def test_replicated_tables_wait_for_a_restart_history_tables_do_not() -> None:
    tables = BASE.tables.model_copy(update={"replicated": ["contacts"], "history": ["calls"]})
    effective, pending = plan_reload(BASE, BASE.model_copy(update={"tables": tables}))
    assert pending == ["tables.replicated"]
    assert effective.tables.replicated == BASE.tables.replicated and effective.tables.history == ["calls"]


@pytest.fixture
def member(tmp_path: Path) -> Iterator[tuple[Node, NodeDir]]:
    (node,) = make_nodes(tmp_path, ["127.0.16.51"])
    node.cli("create")
    running = Node(load_settings(node.config))
    try:
        yield running, node
    finally:
        running.store.close()


def events_of(node: NodeDir) -> list[str]:
    return [str(e["subject"]) + ": " + str(e["detail"]) for e in event_log.recent(node.folder / "state")]


def test_a_running_member_takes_what_it_can_and_says_what_needs_a_restart(
    member: tuple[Node, NodeDir], caplog: pytest.LogCaptureFixture
) -> None:
    running, node = member
    node.write_config(sync_interval=2, timeout=3, port=node.port + 7)
    ok, detail = reload_member(running, node.config)
    assert ok and detail.endswith("applied; needs a restart for cluster.port")
    assert (running.cluster.sync_interval, running.cluster.timeout) == (2, 3)
    assert running.cluster.port == node.port  # still listening where it was
    assert running.newcomers.grace == running.cluster.retry_interval + 2 * 3
    assert "these changes need a restart (clustersync service restart): cluster.port" in caplog.text
    assert events_of(node)[0].startswith("reload of config.yaml applied: ")


def test_a_reload_that_fails_keeps_the_running_settings(member: tuple[Node, NodeDir]) -> None:
    running, node = member
    before = running.cluster
    node.config.write_text(node.config.read_text().replace("sync_interval: 0.5", "sync_interval: soon"))
    ok, detail = reload_member(running, node.config)
    assert not ok and "cluster.sync_interval" in detail
    node.write_config()
    valid_without_database = node.config.read_text().replace("  database: app.db\n", "")
    node.config.write_text(valid_without_database)
    ok, detail = reload_member(running, node.config)
    assert not ok and "cluster.database is required" in detail
    assert running.cluster is before
    assert [e.split(":")[0] for e in events_of(node)] == ["reload of config.yaml FAILED"] * 2


def test_a_saved_config_file_is_reloaded_without_a_signal(tmp_path: Path) -> None:
    (node,) = make_nodes(tmp_path, ["127.0.16.52"])
    node.cli("create")
    node.start()
    try:
        node.write_config(sync_interval=1.5)  # saved: service.watch_config (2 s) notices it
        wait_for(lambda: any("reload of config.yaml applied" in e for e in events_of(node)), 20, "the reload")
        assert node.proc is not None and node.proc.poll() is None
        assert "changed on disk: reloading it" in (node.folder / "run.log").read_text()
    finally:
        node.kill(signal.SIGTERM)
