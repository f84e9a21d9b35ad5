"""The maintenance/pin map: merges converge in any order, windows, pre-flight, parsing (SF-11)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simplefailover.config import Config
from simplefailover.control.overrides import (
    MAINTENANCE,
    PIN,
    Entry,
    Overrides,
    parse_duration,
    parse_time,
    preflight,
    read_entries,
)
from simplefailover.pollers.result import PollResult
from simplefailover.state import HealthBoard, Status
from tests.simplefailover.test_state import make_config

entries = st.builds(
    Entry,
    kind=st.sampled_from([MAINTENANCE, PIN]),
    target=st.sampled_from(["n1", "n2", "ias.example.test"]),
    on=st.booleans(),
    start=st.floats(0, 100),
    end=st.one_of(st.just(math.inf), st.floats(0, 200)),
    node=st.sampled_from(["", "n1"]),
    stamp=st.integers(0, 5).map(float),
    origin=st.sampled_from(["a", "b", "c"]),
)


@given(st.lists(entries, max_size=12), st.randoms())
def test_merge_converges_whatever_the_order(items: list[Entry], rnd: object) -> None:
    one = Overrides(items)
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    other = Overrides()
    for half in (shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2 :], shuffled):
        other.merge(half)  # idempotent: merging again changes nothing
    assert one.entries == other.entries


@given(st.lists(entries, max_size=12))
def test_the_map_survives_its_json(items: list[Entry]) -> None:
    one = Overrides(items)
    assert Overrides(read_entries(one.as_list())).entries == one.entries


def test_a_switch_off_heard_late_still_wins_over_an_older_on() -> None:
    on = Entry(MAINTENANCE, "n1", True, stamp=10, origin="a")
    off = Entry(MAINTENANCE, "n1", False, stamp=20, origin="b")
    assert Overrides([off, on]).maintenance(15) == frozenset()
    assert Overrides([on]).maintenance(15) == {"n1"}


def test_windows_start_and_end_by_themselves() -> None:
    window = Overrides([Entry(MAINTENANCE, "n1", True, start=100, end=200, stamp=50)])
    assert [window.maintenance(t) for t in (99, 100, 199, 200)] == [set(), {"n1"}, {"n1"}, set()]
    assert window.next_change(50) == 100 and window.next_change(150) == 200
    window.forget_old(200 + 8 * 86400)
    assert not window.entries


@pytest.mark.parametrize(
    "bad",
    [[{"kind": "drain", "target": "n1", "on": True}], [{"kind": PIN, "target": "", "on": True}],
     [{"kind": PIN, "target": "x", "on": "yes"}], [{"kind": PIN, "target": "x", "on": True, "start": "0"}],
     {"kind": PIN}],
)  # fmt: skip
def test_a_bad_map_from_a_peer_is_refused_with_a_reason(bad: object) -> None:
    with pytest.raises(ValueError):
        read_entries(bad)


def test_preflight_names_the_hostnames_left_without_an_ok_node() -> None:
    config: Config = make_config()
    hostname = config.hostnames[0]
    fqdn = config.fqdn(hostname)
    ids = [n.id for n in config.nodes]
    statuses = {hostname.polling: {ids[0]: Status.OK, ids[1]: Status.KO}}
    assert preflight(config, statuses, frozenset({ids[1]}), {}) == []
    assert fqdn in preflight(config, statuses, frozenset({ids[0]}), {})
    assert fqdn not in preflight(config, statuses, frozenset({ids[0]}), {fqdn: ids[1]})  # pinned


def test_durations_and_times() -> None:
    assert [parse_duration(t) for t in ("90", "30s", "15m", "2h", "1d")] == [90, 30, 900, 7200, 86400]
    for bad in ("", "0", "-1h", "2w", "h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_time("2026-12-03T22:00:00+00:00", 0) == 1796335200
    now = parse_time("2026-12-03T12:00:00", 0)
    assert 0 < parse_time("13:00", now) - now <= 86400 and parse_time("11:00", now) > now
    with pytest.raises(ValueError):
        parse_time("soon", 0)


def test_the_board_passes_over_nodes_in_maintenance_and_follows_pins() -> None:
    board = HealthBoard(make_config())
    for node in ("a", "b", "c"):
        board.observe(node, "p", PollResult(True, 0.001, "", 1.0))
    assert board.table.answers["www.example.test"].node_ids == ("a",)
    moved = board.override(frozenset({"a"}), {}, 2.0)
    answer = board.table.answers["www.example.test"]
    assert answer.node_ids == ("b",) and "a in maintenance" in answer.reason
    assert [t.kind for t in moved] == ["answer"]
    board.override(frozenset({"a"}), {"www.example.test": ("c", "by ops: drill")}, 3.0)
    answer = board.table.answers["www.example.test"]
    assert answer.node_ids == ("c",) and answer.reason == "pinned to c: by ops: drill"
    assert board.override(frozenset({"a"}), {"www.example.test": ("c", "by ops: drill")}, 4.0) == []
    board.override(frozenset(), {}, 5.0)
    assert board.table.answers["www.example.test"].node_ids == ("a",)
    assert board.checks[("a", "p")].status is Status.OK  # checks go on as before
