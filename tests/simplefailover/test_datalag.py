"""Data-aware answers (SF-12, hostnames[].max_data_lag): the pure filter, the board, the parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from habase.errors import ConfigError
from simplefailover.config import Config, parse_config
from simplefailover.datalag import DataFact, usable
from simplefailover.datawatch import fact_of, fetch
from simplefailover.pollers.result import PollResult
from simplefailover.state import HealthBoard
from tests.support.bind import free_port

CONFIG = """
zone: {name: example.test}
nodes:
  - {id: n1, address: 127.0.122.1, priority: 10}
  - {id: n2, address: 127.0.122.2, priority: 5, data_url: "http://127.0.122.2:6000/status"}
pollings:
  - {id: p, method: tcp, port: 9}
hostnames:
  - {name: www, polling: p LAG}
  - {name: plain, polling: p}
"""

FRESH = DataFact(True, 1.0)


def make(lag: str = ", max_data_lag: 30") -> Config:
    return parse_config(CONFIG.replace(" LAG", lag))


def board_with_both_ok(config: Config) -> HealthBoard:
    board = HealthBoard(config)
    for node in ("n1", "n2"):
        board.observe(node, "p", PollResult(True, 0.001, "", 1.0))
    return board


def test_config_and_default_urls() -> None:
    config = make()
    assert config.data_urls() == {
        "n1": "http://127.0.122.1:52700/status",
        "n2": "http://127.0.122.2:6000/status",
    }
    assert make("").data_urls() == {}  # off by default: nothing is polled
    for bad in (", max_data_lag: 0", ", max_data_lag: -5", ", max_data_lag: soon"):
        with pytest.raises(ConfigError, match="max_data_lag"):
            make(bad)
    with pytest.raises(ConfigError, match="data_url"):
        parse_config(CONFIG.replace(" LAG", "").replace("http://127.0.122.2", "ftp://x"))


def test_stale_node_is_skipped_and_the_why_says_so() -> None:
    board = board_with_both_ok(make())
    assert board.table.answers["www.example.test"].node_ids == ("n1",)
    changes = board.set_data({"n1": DataFact(True, 50.0), "n2": DataFact(True, 8.0)}, 2.0)
    www = board.table.answers["www.example.test"]
    assert www.node_ids == ("n2",)
    assert "n1 skipped: data lags n2 by 42 s > max_data_lag 30" in www.reason
    assert [t.kind for t in changes] == ["answer"] and changes[0].hostname == "www.example.test"
    assert board.table.answers["plain.example.test"].node_ids == ("n1",)  # no max_data_lag: unaffected
    board.set_data({"n1": DataFact(True, 20.0), "n2": DataFact(True, 8.0)}, 3.0)  # within the lag
    assert board.table.answers["www.example.test"].node_ids == ("n1",)
    assert "skipped" not in board.table.answers["www.example.test"].reason


def test_not_ready_node_is_skipped_with_clustersync_reason() -> None:
    board = board_with_both_ok(make())
    board.set_data({"n1": DataFact(False, None, "joining"), "n2": FRESH}, 2.0)
    www = board.table.answers["www.example.test"]
    assert www.node_ids == ("n2",) and "n1 skipped: data not ready (joining)" in www.reason
    board.set_data({"n2": FRESH}, 3.0)  # n1 unknown (its clustersync never answered)
    assert (
        "n1 skipped: data not ready (no answer from clustersync)"
        in board.table.answers["www.example.test"].reason
    )


def test_no_fresh_ok_node_means_no_filter() -> None:
    board = board_with_both_ok(make())
    board.set_data({"n1": DataFact(False, None, "down"), "n2": DataFact(False, None, "down")}, 2.0)
    www = board.table.answers["www.example.test"]
    assert www.node_ids == ("n1",) and "skipped" not in www.reason
    board.observe("n2", "p", PollResult(False, 0.001, "refused", 3.0))
    board.observe("n2", "p", PollResult(False, 0.001, "refused", 3.5))
    board.observe("n2", "p", PollResult(False, 0.001, "refused", 4.0))
    board.set_data({"n1": DataFact(True, 500.0), "n2": FRESH}, 5.0)  # fresh n2 is KO: n1 is the freshest OK
    assert board.table.answers["www.example.test"].node_ids == ("n1",)


facts = st.one_of(
    st.none(),
    st.builds(DataFact, st.booleans(), st.one_of(st.none(), st.floats(0, 1e6)), st.sampled_from(["", "x"])),
)


@given(
    st.lists(st.tuples(st.booleans(), facts), min_size=1, max_size=6),
    st.one_of(st.none(), st.floats(0.001, 1e5)),
)
def test_filter_never_empties_the_ok_nodes_and_is_off_when_unset(
    nodes_spec: list[tuple[bool, DataFact | None]], lag: float | None
) -> None:
    config = parse_config(
        "zone: {name: example.test}\nnodes:\n"
        + "".join(f"  - {{id: n{i}, address: 127.0.122.{i + 1}}}\n" for i in range(len(nodes_spec)))
        + "pollings: [{id: p, method: tcp, port: 9}]\nhostnames: [{name: w, polling: p}]\n"
    )
    ok = {f"n{i}" for i, (up, _) in enumerate(nodes_spec) if up}
    known = {f"n{i}": fact for i, (_, fact) in enumerate(nodes_spec) if fact is not None}
    kept, words = usable(config.nodes, ok, known, lag)
    kept_ids = {n.id for n in kept}
    assert {n.id for n in config.nodes} - ok <= kept_ids  # only OK nodes are judged
    if ok:
        assert kept_ids & ok  # some OK node is always left
    if lag is None:
        assert kept_ids == {n.id for n in config.nodes} and words == ""
    for node_id in ok - kept_ids:
        assert f"{node_id} skipped" in words
        fact = known.get(node_id)
        assert fact is None or not fact.ready or fact.age is None or lag is None or fact.age > 0


def test_status_body_parsing() -> None:
    body = b'{"node": "a", "readiness": {"ready": true, "reason": "ok"}, "data": {"age": 3.5}}'
    assert fact_of(body) == DataFact(True, 3.5, "")
    assert fact_of(b'{"readiness": {"ready": false, "reason": "joining"}}') == DataFact(
        False, None, "joining"
    )
    for bad in (
        b"",
        b"[]",
        b"{}",
        b'{"readiness": {"ready": "yes"}}',
        b'{"readiness": {"ready": true}, "data": {"age": "x"}}',
    ):
        assert fact_of(bad) == DataFact(False, None, "unreadable clustersync status")


def test_fetch_from_nothing_listening_says_unreachable() -> None:
    port = free_port("127.0.122.1")  # bound then closed: nothing listens there now
    fact = fetch(f"http://127.0.122.1:{port}/status", 1.0)
    assert not fact.ready and fact.age is None and fact.reason.startswith("clustersync unreachable: ")
    assert fetch("http://[bad/status", 1.0).reason.startswith("clustersync unreachable: ")
