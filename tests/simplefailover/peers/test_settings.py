"""The peers section: defaults, every problem named with its key, identity and secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from habase.errors import ConfigError
from simplefailover.config import parse_config
from simplefailover.peers import settings

BASE = """zone: {name: x.test}
nodes: [{id: n, address: 127.0.0.93}]
pollings: [{id: p, method: tcp, port: 9}]
hostnames: [{name: w, polling: p}]
"""
MEMBERS = """peers:
  members: [{id: a, address: "127.0.0.90:52710"}, {id: b, address: "127.0.0.91:52710"}]
"""


def test_absent_or_single_member_means_alone() -> None:
    assert settings.peers_of(parse_config(BASE)) is None
    one = BASE + 'peers: {id: a, members: [{id: a, address: "127.0.0.90:1"}]}\n'
    assert settings.peers_of(parse_config(one)) is None


def test_defaults_and_cluster_fallbacks(tmp_path: Path) -> None:
    config = parse_config(
        BASE + "cluster: {node_id: b, secret_file: s.key}\n" + MEMBERS, "c.yaml", base_dir=tmp_path
    )
    peers = settings.peers_of(config)
    assert peers is not None
    assert (peers.heartbeat, peers.stale_after, peers.isolation, peers.address()) == (
        2,
        10,
        "keep_last",
        ("0.0.0.0", 52710),
    )
    assert settings.self_id(config) == "b" and settings.secret_path(config) == tmp_path / "s.key"
    assert settings.check(config) == []
    (tmp_path / "s.key").write_text("short")
    with pytest.raises(ConfigError, match="fewer than 16 bytes"):
        settings.read_secret(config)
    (tmp_path / "s.key").write_text("a-long-enough-random-secret\n")
    assert settings.read_secret(config) == b"a-long-enough-random-secret"


@pytest.mark.parametrize(
    ("extra", "problems"),
    [
        ("", ["peers.secret_file: required", "peers.members: this instance"]),
        ("  id: z\n  secret_file: s\n", ["peers.members: this instance's id 'z' is not listed"]),
        ("  id: a\n  secret_file: s\n  isolation: vote\n", ["peers.isolation: Input should be"]),
        (
            "  id: a\n  secret_file: s\n  stale_after: 0\n",
            ["peers.stale_after: Input should be greater than 0"],
        ),
        ("  id: a\n  secret_file: s\n  listen: nowhere:1\n", ["peers.listen:"]),
    ],
)
def test_problems_name_their_key(extra: str, problems: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + MEMBERS + extra)
    assert len(caught.value.problems) == len(problems), caught.value.problems
    for expected in problems:
        assert any(p.startswith(expected) for p in caught.value.problems), (expected, caught.value.problems)


def test_duplicate_member_ids_refused() -> None:
    text = (
        BASE
        + 'peers: {id: a, secret_file: s, members: [{id: a, address: "127.0.0.90:1"}, '
        + ('{id: a, address: "127.0.0.91:1"}]}\n')
    )
    with pytest.raises(ConfigError, match="duplicate id 'a'"):
        parse_config(text)
