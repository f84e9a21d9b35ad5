"""The recent-events file the HA page reads: appended by run, newest first, bounded, robust."""

from __future__ import annotations

from pathlib import Path

from clustersync.core.events import Event
from clustersync.ops import event_log


def event(n: int) -> Event:
    body = f"syncing with n3 instead of n2 ({n})\n\nNode: n1"
    return Event("failover", f"[n1] clustersync: failover {n}", body)


def test_newest_first_with_the_headline(tmp_path: Path) -> None:
    for n in range(3):
        event_log.record(tmp_path / "state", event(n), 1000.0 + n)
    found = event_log.recent(tmp_path / "state", limit=2)
    assert [e["at"] for e in found] == [1002.0, 1001.0]
    assert found[0]["kind"] == "failover" and found[0]["detail"] == "syncing with n3 instead of n2 (2)"


def test_cut_back_to_the_last_ones(tmp_path: Path) -> None:
    for n in range(2 * event_log.KEEP + 1):
        event_log.record(tmp_path, event(n), float(n))
    lines = (tmp_path / event_log.EVENTS_FILE).read_text().splitlines()
    assert len(lines) == event_log.KEEP
    assert event_log.recent(tmp_path, limit=1)[0]["at"] == float(2 * event_log.KEEP)


def test_garbage_lines_are_skipped_and_no_file_is_no_event(tmp_path: Path) -> None:
    assert event_log.recent(tmp_path) == []
    event_log.record(tmp_path, event(1), 5.0)
    with (tmp_path / event_log.EVENTS_FILE).open("a") as file:
        file.write('not json\n["a list"]\n{"at": "later", "kind": "x"}\n\xff\n')
    assert [e["at"] for e in event_log.recent(tmp_path)] == [5.0]


def test_an_unwritable_folder_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    event_log.record(blocker / "state", event(1), 1.0)  # logged, not raised: replication goes on
    assert event_log.recent(blocker / "state") == []
