"""The pure part of RFC 2136 updates: what the server should hold, and which UPDATE (or none)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simplefailover.config import Config, parse_config
from simplefailover.dns.update_plan import (
    Records,
    backoff,
    changed_names,
    managed_fqdns,
    plan_change,
    records_of,
    update_ttl,
    update_zone,
    wanted_records,
)
from simplefailover.state import Answer, AnswerTable

CONFIG = """
zone: {name: imagicle.example.com, ttl: 20}
nodes:
  - {id: n1, address: 127.0.0.81, priority: 10}
  - {id: n2, address: "::1", priority: 5}
pollings: [{id: p, method: tcp, port: 9}]
hostnames:
  - {name: ias1, polling: p}
  - {name: ias2, polling: p, when_all_down: none}
  - {name: ias3, polling: p}
dns:
  listen: []
  update: {server: 127.0.0.1, key_name: sf-key, secret_env: SF_TSIG UPDATE_EXTRA}
"""


def config_with(extra: str = "") -> Config:
    return parse_config(CONFIG.replace("UPDATE_EXTRA", extra))


def table(**addresses: tuple[str, ...]) -> AnswerTable:
    answers = {
        f"{name}.imagicle.example.com": Answer((), addrs, not addrs, "test")
        for name, addrs in addresses.items()
    }
    return AnswerTable(7, answers, True)


def test_defaults_come_from_the_zone_and_every_hostname_is_managed() -> None:
    config = config_with()
    update = config.dns.update
    assert update is not None
    assert update_zone(config, update) == "imagicle.example.com"
    assert update_ttl(config, update) == 20
    assert managed_fqdns(config, update) == [
        "ias1.imagicle.example.com",
        "ias2.imagicle.example.com",
        "ias3.imagicle.example.com",
    ]


def test_hostnames_zone_and_ttl_can_be_chosen() -> None:
    config = config_with(", hostnames: [IAS3, ias1], zone: example.com., ttl: 5")
    update = config.dns.update
    assert update is not None
    assert managed_fqdns(config, update) == ["ias1.imagicle.example.com", "ias3.imagicle.example.com"]
    assert update_zone(config, update) == "example.com"
    assert update_ttl(config, update) == 5


def test_wanted_records_split_families_and_skip_names_without_an_answer() -> None:
    config = config_with()
    update = config.dns.update
    assert update is not None
    wanted = wanted_records(config, update, table(ias1=("127.0.0.81", "0:0::1"), ias2=()))
    assert wanted == {
        "ias1.imagicle.example.com": Records(frozenset({"127.0.0.81"}), frozenset({"::1"}), 20),
        "ias2.imagicle.example.com": Records(frozenset(), frozenset(), 20),
    }


def test_nothing_is_sent_when_the_server_already_holds_the_answer() -> None:
    wanted = records_of(("127.0.0.81",), 30)
    assert plan_change("a.example", wanted, records_of(["127.0.0.81"], 30)) is None


@pytest.mark.parametrize(
    ("held", "why"),
    [
        (records_of(["127.0.0.82"], 30), "other address"),
        (records_of(["127.0.0.81", "127.0.0.82"], 30), "one address too many"),
        (records_of(["127.0.0.81"], 300), "other TTL"),
        (records_of(["127.0.0.81", "::1"], 30), "an AAAA left over"),
        (Records(), "nothing there"),
    ],
)
def test_a_difference_gives_one_change_carrying_what_was_read(held: Records, why: str) -> None:
    wanted = records_of(("127.0.0.81",), 30)
    change = plan_change("a.example", wanted, held)
    assert change is not None, why
    assert (change.fqdn, change.wanted, change.held) == ("a.example", wanted, held)


def test_empty_sets_match_whatever_their_ttl() -> None:
    assert plan_change("a.example", Records(ttl=30), Records(ttl=0)) is None


def test_changed_names_lists_new_and_different_names_only() -> None:
    one, two = records_of(["127.0.0.81"], 30), records_of(["127.0.0.82"], 30)
    assert changed_names({"a": one, "b": one}, {"a": one, "b": two, "c": one}) == ["b", "c"]


v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)
records = st.builds(
    lambda a, aaaa, ttl: records_of(sorted(a | aaaa), ttl),
    st.frozensets(v4, max_size=3),
    st.frozensets(v6, max_size=3),
    st.integers(0, 86400),
)


@given(records, records)
def test_a_change_is_planned_exactly_when_the_records_differ(wanted: Records, held: Records) -> None:
    change = plan_change("a.example", wanted, held)
    differ = wanted.a != held.a or wanted.aaaa != held.aaaa or (not wanted.empty and wanted.ttl != held.ttl)
    assert (change is not None) == differ
    # Once the server holds what was wanted, the next round sends nothing: no two
    # instances with the same answer keep rewriting it.
    assert plan_change("a.example", wanted, wanted) is None


@given(st.integers(0, 10_000), st.floats(0.01, 10), st.floats(10, 600))
def test_backoff_doubles_and_stays_within_bounds(failures: int, first: float, maximum: float) -> None:
    wait = backoff(failures, first, maximum)
    assert 0 <= wait <= maximum
    if failures == 0:
        assert wait == 0
    else:
        assert wait >= min(first, maximum)
        assert backoff(failures + 1, first, maximum) >= wait
