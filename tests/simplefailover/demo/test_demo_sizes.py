"""`simplefailover demo --nodes N`: any size from two, with a banner and hints right for that size."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplefailover.demo.layout import FAST, make_layout
from simplefailover.demo.runner import demo_addresses, intro

from .test_demo_cluster import Demo, processes_under, wait_for

ADDRESSES = ["127.0.15.41", "127.0.15.42"]


def test_addresses_follow_the_number_of_nodes() -> None:
    assert demo_addresses(None, None) == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    assert demo_addresses(2, None) == ["127.0.0.11", "127.0.0.12"]
    assert demo_addresses(5, None)[-1] == "127.0.0.15"
    assert demo_addresses(None, "127.0.0.41, 127.0.0.42") == ["127.0.0.41", "127.0.0.42"]
    with pytest.raises(ValueError, match="--nodes: 2 or more"):
        demo_addresses(1, None)
    with pytest.raises(ValueError, match="--nodes 3 but --addresses lists 2"):
        demo_addresses(3, "127.0.0.41,127.0.0.42")
    with pytest.raises(ValueError, match="--addresses"):
        demo_addresses(None, "10.0.0.1,10.0.0.2")


@pytest.mark.parametrize(
    ("nodes", "survivors"),
    [
        (2, "the contacts stay on node2\n"),
        (3, "stay on node2 and node3"),
        (4, "stay on node2, node3 and node4"),
    ],
)
def test_hints_name_the_nodes_there_are(tmp_path: Path, nodes: int, survivors: str) -> None:
    layout = make_layout(tmp_path, demo_addresses(nodes, None), timing=FAST)
    text = intro(layout) + "\n"
    assert survivors in text
    assert "node2 and node2" not in text
    assert len(re.findall(r"priority \d+", text)) == nodes


def test_two_node_bound_waits_for_the_dead_instance_to_fall_silent(tmp_path: Path) -> None:
    two = make_layout(tmp_path, demo_addresses(2, None), timing=FAST)
    three = make_layout(tmp_path, demo_addresses(3, None), timing=FAST)
    assert two.detection_bound() >= FAST.interval + FAST.fall * (FAST.timeout + FAST.retry_interval) + 3
    assert three.detection_bound() == FAST.detection_bound()


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "demo"
    yield folder
    for pid in processes_under(folder):  # never leave a process behind, even when the test failed
        os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(150)
def test_stop_node1_in_a_two_node_demo_moves_the_answer(state_dir: Path) -> None:
    demo = Demo(state_dir, ADDRESSES, "--nodes", "2")
    try:
        demo.wait_line("starting 2 x (app, clustersync, simplefailover)", 30)
        demo.wait_line("the contacts stay on node2", 90)
        first, second = ADDRESSES
        wait_for(
            "both instances answering node1",
            lambda: demo.answers() == [(first,)] * 2,
            30,
            demo,
        )
        demo.command("stop node1")
        demo.wait_line("node1: stopped", 20)
        wait_for("node2 answering node2", lambda: demo.answers()[1] == (second,), 20, demo)
        wait_for("the failure mail", lambda: any("web KO on node1" in line for line in demo.output), 20, demo)
        assert sum("web KO on node1" in line for line in demo.output) == 1
    finally:
        code = demo.stop(signal.SIGINT)
    assert code == 0, demo.log()
    assert processes_under(state_dir) == {}
