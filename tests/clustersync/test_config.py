"""clustersync reads its own sections of config.yaml; its cluster: errors keep file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from clustersync.api import check_config
from clustersync.config import load_settings, parse_settings
from habase.errors import ConfigError
from simplefailover.config import load_config

SF_SECTIONS = (
    "zone: {name: example.test}\n"
    "nodes: [{id: a, address: 127.0.0.1}]\n"
    "pollings: [{id: t, method: tcp, port: 22}]\n"
    "hostnames: [{name: www, polling: t}]\n"
)
BROKEN_CLUSTER = (
    "cluster:\n"
    "  node_id: a\n"
    "  port: 70000\n"  # line 7
    "  strategy: shared\n"  # no dsn: told once the fields are valid (model check after field checks)
    "  colour: blue\n"  # line 9
)


def test_clustersync_reads_its_sections_and_resolves_paths_from_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sub" / "config.yaml"
    config.parent.mkdir()
    config.write_text(
        SF_SECTIONS + "cluster: {node_id: a, database: data/app.db}\nservice: {watch_config: 0}\n"
        "monitoring: {recipients: [ops@example.test]}\n"
    )
    settings = load_settings(config)
    assert settings.cluster is not None and settings.cluster.database == config.parent / "data" / "app.db"
    assert settings.service.watch_config == 0 and settings.monitoring.recipients == ["ops@example.test"]
    assert settings.source == str(config)


def test_cluster_errors_name_key_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(SF_SECTIONS + BROKEN_CLUSTER, "config.yaml")
    assert caught.value.problems == [
        "cluster.port: Input should be less than or equal to 65535 (config.yaml, line 7)",
        "cluster.colour: unknown key (config.yaml, line 9)",
    ]


def test_a_model_check_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings("cluster:\n  node_id: a\n  strategy: shared\n", "config.yaml")
    assert caught.value.problems == ["cluster.dsn: required for strategy shared (config.yaml, line 1)"]


def test_simplefailover_check_reports_the_same_cluster_errors(tmp_path: Path) -> None:
    """One model: simplefailover's loader and clustersync.api.check_config agree on cluster:."""
    config = tmp_path / "config.yaml"
    config.write_text(SF_SECTIONS + BROKEN_CLUSTER)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert check_config(config) == caught.value.problems


def test_other_sections_are_simplefailovers_business(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("zone: {name: ''}\nnodes: []\ncluster: {node_id: a}\n")
    assert check_config(config) == []
    assert load_settings(config).cluster is not None
    with pytest.raises(ConfigError):
        load_config(config)  # simplefailover refuses the same file


def test_unreadable_and_not_yaml(tmp_path: Path) -> None:
    assert check_config(tmp_path / "missing.yaml")[0].startswith(f"{tmp_path / 'missing.yaml'}: cannot read")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: [\n")
    (problem,) = check_config(bad)
    assert problem.startswith("not valid YAML: ") and "(bad.yaml, line 2)" in problem
