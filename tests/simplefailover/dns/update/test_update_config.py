"""The dns.update section: defaults, every problem named with its key and line, secrets read late."""

from __future__ import annotations

from pathlib import Path

import pytest

from habase.errors import ConfigError
from simplefailover.config import parse_config

BASE = """zone: {name: imagicle.example.com, ttl: 30}
nodes: [{id: n1, address: 127.0.0.81}]
pollings: [{id: p, method: tcp, port: 9}]
hostnames: [{name: ias1, polling: p}, {name: ias2, polling: p}]
dns:
  listen: []
  update:
"""


def problems(update_yaml: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + update_yaml, "config.yaml")
    return caught.value.problems


def test_a_minimal_section_gets_its_defaults_and_the_responder_can_be_off(tmp_path: Path) -> None:
    config = parse_config(
        BASE + "    {server: '::1', key_name: SF-Key., secret_file: keys/tsig}\n", base_dir=tmp_path
    )
    assert config.dns.listen == []
    update = config.dns.update
    assert update is not None
    assert (str(update.server), update.port, update.zone, update.key_name) == ("::1", 53, None, "sf-key")
    assert (update.algorithm, update.ttl, update.hostnames, update.transport) == (
        "hmac-sha256",
        None,
        None,
        "tcp",
    )
    assert update.secret_file == tmp_path / "keys" / "tsig"  # relative to the config file


def test_the_section_is_optional() -> None:
    assert parse_config(BASE.removesuffix("  update:\n")).dns.update is None


def test_every_problem_is_reported_with_its_key_and_line() -> None:
    found = problems(
        """    server: dns.example.com
    port: 0
    key_name: sf-key
    algorithm: gss-tsig
    secret_env: SF_TSIG
    secret_file: tsig.secret
    hostnames: [ias1, ias9]
    transport: tls
    retry_delay: 0
    colour: blue
"""
    )
    assert found == [
        "dns.update.server: value is not a valid IPv4 or IPv6 address (config.yaml, line 8)",
        "dns.update.port: Input should be greater than or equal to 1 (config.yaml, line 9)",
        "dns.update.algorithm: Input should be 'hmac-md5', 'hmac-sha1', 'hmac-sha224', 'hmac-sha256', "
        "'hmac-sha384' or 'hmac-sha512' (config.yaml, line 11)",
        "dns.update.hostnames[1]: unknown hostname 'ias9' (known: ias1, ias2) (config.yaml, line 14)",
        "dns.update.transport: Input should be 'tcp' or 'udp' (config.yaml, line 15)",
        "dns.update.retry_delay: Input should be greater than 0 (config.yaml, line 16)",
        "dns.update.colour: unknown key (config.yaml, line 17)",
    ]


def test_server_and_key_are_required_and_a_secret_source_too() -> None:
    assert problems("    {}\n") == [
        "dns.update.server: required (config.yaml, line 7)",
        "dns.update.key_name: required (config.yaml, line 7)",
    ]
    assert problems("    {server: 127.0.0.1, key_name: k}\n") == [
        "dns.update: set exactly one of secret_env and secret_file (the base64 TSIG secret) "
        "(config.yaml, line 7)"
    ]
    both = "    {server: 127.0.0.1, key_name: k, secret_env: A, secret_file: b}\n"
    assert problems(both) == problems("    {server: 127.0.0.1, key_name: k}\n")


def test_the_secret_is_read_when_used_so_a_new_one_needs_no_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tsig").write_text("b2xk\n")
    from_file = parse_config(
        BASE + "    {server: 127.0.0.1, key_name: k, secret_file: tsig}\n", base_dir=tmp_path
    )
    assert from_file.dns.update is not None
    assert from_file.dns.update.secret() == "b2xk"
    (tmp_path / "tsig").write_text("bmV3")
    assert from_file.dns.update.secret() == "bmV3"
    from_env = parse_config(BASE + "    {server: 127.0.0.1, key_name: k, secret_env: SF_TEST_TSIG}\n")
    assert from_env.dns.update is not None
    monkeypatch.delenv("SF_TEST_TSIG", raising=False)
    with pytest.raises(KeyError, match="SF_TEST_TSIG is not set"):
        from_env.dns.update.secret()
    monkeypatch.setenv("SF_TEST_TSIG", " c2VjcmV0 ")
    assert from_env.dns.update.secret() == "c2VjcmV0"


def test_a_zone_that_does_not_contain_the_hostnames_is_refused() -> None:
    assert problems("    {server: 127.0.0.1, key_name: k, secret_env: S, zone: other.example}\n") == [
        "dns.update.zone: the hostnames of zone imagicle.example.com are not inside zone other.example: "
        "the server would refuse (config.yaml, line 8)"
    ]
    parent = parse_config(BASE + "    {server: 127.0.0.1, key_name: k, secret_env: S, zone: Example.COM.}\n")
    assert parent.dns.update is not None and parent.dns.update.zone == "example.com"
