"""The collector settings of a service (habase/collector.py), and `clustersync run` using them."""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from clustersync.sync.runner import Runner
from habase import collector


@pytest.fixture
def restored() -> Iterator[None]:
    """The process's collector thresholds and signal handlers as they were, after the test."""
    thresholds = gc.get_threshold()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    gc.set_threshold(*thresholds)
    for number, handler in handlers.items():
        signal.signal(number, handler)


def test_tune_sets_the_service_thresholds_and_returns_the_ones_before(restored: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert collector.tune() == (700, 10, 10)
    assert gc.get_threshold() == collector.THRESHOLDS
    assert collector.THRESHOLDS[0] > 700 and collector.THRESHOLDS[2] > 10  # rarer than Python's defaults


def test_clustersync_run_sets_them_before_the_member_is_made(restored: None, tmp_path: Path) -> None:
    gc.set_threshold(700, 10, 10)
    seen = []

    def make() -> object:
        seen.append(gc.get_threshold())
        raise RuntimeError("made")

    with pytest.raises(RuntimeError, match="made"):
        Runner(tmp_path / "cluster.yaml").run(make)  # type: ignore[arg-type]
    assert seen == [collector.THRESHOLDS]
