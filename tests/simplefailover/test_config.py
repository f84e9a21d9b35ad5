"""Config loading: every broken case under config/ names its key path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from habase.errors import ConfigError
from simplefailover.config import format_hostport, load_config, parse_config, parse_hostport

CASES = Path(__file__).parent / "config"
ROOT = Path(__file__).parents[2]


def expected_messages(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ").rstrip("\n")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


@pytest.mark.parametrize("case", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_config_reports_every_problem(case: Path) -> None:
    expected = expected_messages(case)
    assert expected, f"{case.name} has no '# expect:' line"
    with pytest.raises(ConfigError) as caught:
        load_config(case)
    assert caught.value.problems == expected


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.yaml")
    assert config.zone.name == "imagicle.example.com"
    assert [n.id for n in config.nodes] == ["node1", "node2", "node3"]
    assert {h.name for h in config.hostnames} >= {"ias1", "ias2"}
    for address in config.nodes:
        assert address.address.is_loopback  # the example contacts nothing outside the host


def test_defaults_and_aliases() -> None:
    config = parse_config(
        "zone: {name: Example.TEST.}\n"
        "nodes: [{id: a, address: '::1'}]\n"
        "pollings: [{id: t, method: tcp, port: 22}]\n"
        "hostnames: [{name: www, polling: t}]\n"
    )
    assert config.zone.name == "example.test"
    assert config.zone.ttl == 30
    assert config.schedule.interval == 10 and config.schedule.retry_interval == 5
    assert config.schedule.confirm_interval == 0.25 and config.schedule.watch
    assert config.schedule.fall == 2 and config.schedule.rise == 2
    assert config.hostnames[0].when_all_down == "all"
    assert config.polling("t").method == "tcp"
    assert config.nodes[0].url_host == "[::1]"
    assert config.dashboard.address() == ("127.0.0.1", 81)
    assert config.dns.addresses() == [("0.0.0.0", 53), ("::", 53)]
    assert config.fqdn(config.hostnames[0]) == "www.example.test"


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    file = tmp_path / "sub" / "c.yaml"
    file.write_text(
        "zone: {name: t.test}\nnodes: [{id: a, address: 127.0.0.1}]\n"
        "pollings: [{id: p, method: tcp, port: 1}]\nhostnames: [{name: w, polling: p}]\n"
        "cluster: {node_id: a, database: data/app.db, secret_file: /etc/s}\n"
    )
    config = load_config(file)
    assert config.cluster is not None
    assert config.cluster.database == tmp_path / "sub" / "data" / "app.db"
    assert str(config.cluster.secret_file) == "/etc/s"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:53", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::]", ("::", 53)),
        ("0.0.0.0", ("0.0.0.0", 53)),
    ],
)
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text, 53) == expected
    assert parse_hostport(format_hostport(*expected)) == expected  # its inverse


@pytest.mark.parametrize("text", ["::1:53", "[::1", "127.0.0.1:x", "127.0.0.1:70000", "[::1]x"])
def test_parse_hostport_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hostport(text, 53)


def test_commented_examples_in_config_yaml_are_valid() -> None:
    """Lines starting with '#>' in config.yaml are examples: uncommented, the file still loads."""
    text = (ROOT / "config.yaml").read_text()
    examples = [line for line in text.splitlines() if line.lstrip().startswith("#>")]
    assert len(examples) > 20
    uncommented = "\n".join(line.replace("#> ", "", 1) for line in text.splitlines())
    config = parse_config(uncommented, base_dir=ROOT)
    methods = {p.method for p in config.pollings}
    assert {"sip", "dns", "command"} <= methods
    assert [hook.format for hook in config.monitoring.webhooks] == ["slack", "json"]
