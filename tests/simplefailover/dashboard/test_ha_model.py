"""The HA page's pure parts: the host's addresses, the wizard's choices, jobs, form tokens."""

from __future__ import annotations

import secrets
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from simplefailover.config import parse_config
from simplefailover.dashboard.ha_model import (
    JobBoard,
    check_choice,
    csrf_ok,
    csrf_token,
    local_addresses,
    parse_fib_trie,
    parse_if_inet6,
)

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     |-- 192.0.2.2
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 192.0.2.2
        /32 host LOCAL
"""

IF_INET6 = """00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
garbage line
"""

BASE = """zone: {name: example.test}
nodes: [{id: a, address: 127.0.0.150}]
pollings: [{id: p, method: tcp, port: 9}]
hostnames: [{name: h, polling: p}]
"""
CLUSTER = BASE + 'cluster: {address: "127.0.0.150", database: app.db}\n'


def test_fib_trie_gives_the_local_ipv4_addresses_only() -> None:
    assert parse_fib_trie(FIB_TRIE) == {"127.0.0.1", "192.0.2.2"}  # not the /8 route nor broadcast


def test_if_inet6_gives_addresses_without_link_local() -> None:
    assert parse_if_inet6(IF_INET6) == {"::1", "fd00::2"}


def test_local_addresses_list_loopback_and_the_configured_one() -> None:
    found = local_addresses("127.0.0.157")
    assert "127.0.0.1" in found and "127.0.0.157" in found
    versions = [":" in a for a in found]
    assert versions == sorted(versions)  # IPv4 first


def test_choice_that_matches_the_config_has_no_problem() -> None:
    config = parse_config(CLUSTER, "c.yaml", Path("/x"))
    assert check_choice(config, "127.0.0.150", "replicated").problems == ()


def test_choice_names_each_difference_and_gives_the_lines_to_write() -> None:
    config = parse_config(CLUSTER, "c.yaml", Path("/x"))
    choice = check_choice(config, "127.0.0.151", "shared")
    assert len(choice.problems) == 2
    assert "cluster.address" in choice.problems[0] and "127.0.0.150, not 127.0.0.151" in choice.problems[0]
    assert "cluster.strategy" in choice.problems[1]
    assert 'address: "127.0.0.151"' in choice.snippet and "strategy: shared" in choice.snippet
    assert "dsn:" in choice.snippet
    bad = check_choice(config, "not-an-ip", "mirror")
    assert any("not an IP address" in p for p in bad.problems)
    assert any("strategy must be one of replicated, shared" in p for p in bad.problems)


def test_one_job_at_a_time() -> None:
    now = [100.0]
    board = JobBoard(clock=lambda: now[0])
    assert board.current() is None
    job = board.begin("join")
    assert job is not None and job.running
    assert board.begin("create") is None  # refused while the join runs
    board.step("transfer", 5, 10)
    assert board.current() is not None and board.current().done == 5  # type: ignore[union-attr]
    now[0] = 103.0
    board.finish(False, "cannot reach 127.0.0.150 port 52700")
    last = board.current()
    assert last is not None and not last.running and last.ok is False and last.finished == 103.0
    board.step("late")  # a finished job's step no longer changes
    assert board.current() == last
    assert board.begin("join") is not None


@given(st.text(min_size=1, max_size=40), st.text(max_size=80))
def test_only_the_browsers_own_token_passes(browser: str, other: str) -> None:
    key = secrets.token_bytes(32)
    right = csrf_token(key, browser)
    assert csrf_ok(key, browser, right)
    if other != right:
        assert not csrf_ok(key, browser, other)
    assert not csrf_ok(secrets.token_bytes(32), browser, right)  # another start of the service
    assert not csrf_ok(key, None, right) and not csrf_ok(key, browser, None)
