"""What a running member takes from a reloaded config, and what waits for a restart (runner.plan_reload)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from clustersync.runner import RESTART_KEYS, plan_reload
from simplefailover.config import Cluster

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


def test_tables_wait_for_a_restart() -> None:
    new = BASE.model_copy(update={"tables": BASE.tables.model_copy(update={"replicated": ["contacts"]})})
    effective, pending = plan_reload(BASE, new)
    assert pending == ["tables"] and effective.tables == BASE.tables
