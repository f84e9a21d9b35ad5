"""clustersync's alarm changes go into the history, read as the HA page reads them (status.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clustersync.core.status import Health
from simplefailover.config import parse_config
from simplefailover.history import HistoryService, recorder, store
from tests.support.bind import wait_until

CONFIG = """
zone: {{name: example.test}}
nodes: [{{id: n1, address: 127.0.24.61}}]
pollings: [{{id: web, method: tcp, port: 9}}]
hostnames: [{{name: www, polling: web}}]
cluster: {{node_id: n1, address: 127.0.24.61, database: {folder}/app.db, state_dir: {folder}/cs,
  secret_file: {folder}/secret}}
"""


def alarms(history: HistoryService) -> list[tuple[str, str, str]]:
    history.wait_written()
    db = history.reader()
    try:
        return [(e.polling, e.old, e.new) for e in store.events(db, kinds=["alarm"])]
    finally:
        db.close()


def test_alarm_changes_are_recorded_once_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder, "ALARM_INTERVAL", 0.05)
    config = parse_config(CONFIG.format(folder=tmp_path))
    state = tmp_path / "cs"
    Health("n1", successor="n2", partner="n2").save(state)  # this process stands in for `clustersync run`
    history = HistoryService(config, tmp_path / "history.db")
    history.start()
    try:
        wait_until(lambda: len(alarms(history)) == 3, 10, "the three alarms")
        assert sorted(alarms(history)) == [
            ("activity", "", "green"), ("readiness", "", "green"), ("time_alignment", "", "green")
        ]  # fmt: skip
        Health("n1", successor="n2", partner=None, tried={"n2": "connection refused"}).save(state)
        wait_until(lambda: len(alarms(history)) == 4, 10, "the activity alarm's change")
        Health("n1", successor="n2", partner=None, tried={"n2": "connection refused"}).save(state)
        history.wait_written()
        assert alarms(history)[-1] == ("activity", "green", "red")
    finally:
        history.stop()
    db = store.connect(tmp_path / "history.db")
    try:
        [red] = store.events(db, kinds=["alarm"], newest_first=True, limit=1)
    finally:
        db.close()
    assert red.node == "n1" and red.reason == "no available node (n2: connection refused)"

    # After a restart the last states are known: only what changed since is recorded.
    again = HistoryService(config, tmp_path / "history.db")
    again.start()
    try:
        clock = {"n2": "clock offset 20 s above max_clock_offset"}
        Health("n1", successor="n2", partner=None, tried={"n2": "refused"}, clock_refused=clock).save(state)
        wait_until(lambda: len(alarms(again)) >= 5, 10, "the time alignment alarm's change")
        assert alarms(again)[4:] == [("time_alignment", "green", "red")]  # not activity again
    finally:
        again.stop()


def test_a_garbled_status_file_does_not_stop_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder, "ALARM_INTERVAL", 0.05)
    config = parse_config(CONFIG.format(folder=tmp_path))
    (tmp_path / "cs").mkdir()
    (tmp_path / "cs" / "status.json").write_text(json.dumps({"pid": os.getpid(), "updated": "yesterday"}))
    history = HistoryService(config, tmp_path / "history.db")
    history.start()
    try:
        for round_ in range(3):  # several rounds, each looking at the bad file
            history.audit("test", "tester", "127.0.24.99", f"round {round_}")
            assert history.wait_written()
        assert alarms(history) == []
    finally:
        history.stop()
