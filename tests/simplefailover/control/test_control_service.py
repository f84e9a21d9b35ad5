"""The control service alone (no peers): requests, pre-flight, scheduled windows, restarts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simplefailover.control import service
from simplefailover.control.service import ControlService
from simplefailover.engine import Engine
from simplefailover.pollers.result import PollResult
from tests.simplefailover.test_state import make_config

FQDN = "www.example.test"


@pytest.fixture
def engine() -> Engine:
    engine = Engine(make_config())
    for node, ok in (("a", True), ("b", True), ("c", False)):
        engine.record(node, "p", PollResult(ok, 0.001, "" if ok else "refused", time.time()))
    return engine


@pytest.fixture
def control(engine: Engine, tmp_path: Path) -> Iterator[ControlService]:
    service = ControlService(engine.config, engine, tmp_path / "control.json")
    service.start()
    yield service
    service.stop()


def answered(engine: Engine) -> tuple[str, ...]:
    return engine.table.answers[FQDN].node_ids


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_preflight_refuses_then_force_says_so(engine: Engine, control: ControlService) -> None:
    assert control.handle({"action": "maintenance_on", "target": "a", "who": "ops"})["ok"]
    assert answered(engine) == ("b",)
    refused = control.handle({"action": "maintenance_on", "target": "b"})
    assert not refused["ok"] and FQDN in refused["message"] and "--force" in refused["message"]
    assert answered(engine) == ("b",)
    forced = control.handle({"action": "maintenance_on", "target": "b", "force": True})
    assert forced["ok"] and forced["entry"]["force"] and "forced" in forced["message"]
    assert "b" not in answered(engine) and engine.table.answers[FQDN].all_down
    kinds = [(e.kind, e.new) for e in engine.snapshot().events if e.kind == "maintenance"]
    assert kinds == [("maintenance", "on"), ("maintenance", "on")]
    assert control.handle({"action": "maintenance_off", "target": "a"})["ok"]
    assert answered(engine) == ("a",)


@pytest.mark.parametrize(
    "request_, words",
    [
        ({"action": "maintenance_on", "target": "zz"}, "no node 'zz'"),
        ({"action": "pin", "target": "nope", "node": "a"}, "no hostname 'nope'"),
        ({"action": "pin", "target": "www", "node": "zz"}, "no node 'zz'"),
        ({"action": "maintenance_on", "target": "a", "start": "soon"}, "bad request"),
        ({"action": "maintenance_on", "target": "a", "start": [1]}, "bad request"),
        ({"action": "maintenance_on", "target": "a", "end": 1.0}, "would end"),
        ({"action": "drain", "target": "a"}, "unknown action"),
    ],
)
def test_bad_requests_are_refused_saying_why(control: ControlService, request_: dict, words: str) -> None:
    reply = control.handle(request_)
    assert not reply["ok"] and words in reply["message"], reply


class Clock:
    """The control service's clock (service.py reads time.time() alone), moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


def test_a_scheduled_window_starts_and_ends_by_itself(
    engine: Engine, control: ControlService, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(service, "time", clock)
    start, end = clock.now + 60, clock.now + 120
    reply = control.handle({"action": "maintenance_on", "target": "a", "start": start, "end": end})
    assert reply["ok"] and answered(engine) == ("a",)  # not yet
    clock.now = start  # no request: the service's own tick sees the clock reach the start
    wait_until("the window to start", lambda: answered(engine) == ("b",))
    clock.now = end
    wait_until("the window to end", lambda: answered(engine) == ("a",))
    events = [(e.new, e.at) for e in engine.snapshot().events if e.kind == "maintenance"]
    assert events == [("on", start), ("off", end)]


def test_the_map_outlives_a_restart(engine: Engine, tmp_path: Path) -> None:
    first = ControlService(engine.config, engine, tmp_path / "control.json")
    first.start()
    assert first.handle({"action": "pin", "target": "www", "node": "c", "reason": "drill"})["ok"]
    first.stop()
    fresh = Engine(engine.config)
    for node in ("a", "b", "c"):
        fresh.record(node, "p", PollResult(True, 0.001, "", time.time()))
    second = ControlService(fresh.config, fresh, tmp_path / "control.json")
    second.start()
    try:
        assert fresh.table.answers[FQDN].node_ids == ("c",)
        assert [e.reason for e in second.entries()] == ["drill"]
        assert not [e for e in fresh.snapshot().events if e.kind == "pin"]  # no second start
    finally:
        second.stop()
