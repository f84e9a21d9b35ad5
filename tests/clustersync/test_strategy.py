"""One Strategy object per cluster: the lookup, and what each strategy says about its section.

Neither test here opens a socket or a database server: a shared member refuses the
operations on a database of its own before it would talk to PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from clustersync import api
from clustersync.cli.main import main as clustersync
from clustersync.config import parse_settings
from clustersync.core.errors import ClusterSyncError
from clustersync.core.strategy import LocalOperation
from clustersync.shared.strategy import NO_OWN_DATABASE, SharedStrategy
from clustersync.strategies import STRATEGIES, setup_snippet, strategy_for
from clustersync.sync.replicated import ReplicatedStrategy

SHARED = """\
cluster:
  node_id: n1
  address: 127.0.218.1
  strategy: shared
  dsn: "postgresql://ha@127.0.218.9/app"
  state_dir: {dir}/state
"""
REPLICATED = """\
cluster:
  node_id: n1
  address: 127.0.218.1
  database: {dir}/app.db
  state_dir: {dir}/state
  tables: {{replicated: [t]}}
"""


def _settings(tmp_path: Path, text: str) -> api.Settings:
    path = tmp_path / "config.yaml"
    path.write_text(text.format(dir=tmp_path))
    return parse_settings(path.read_text(), str(path), tmp_path)


def test_the_lookup_gives_the_object_the_section_names(tmp_path: Path) -> None:
    assert isinstance(strategy_for(_settings(tmp_path, SHARED)), SharedStrategy)
    assert isinstance(strategy_for(_settings(tmp_path, REPLICATED)), ReplicatedStrategy)
    assert set(STRATEGIES) == set(api.STRATEGY_NAMES) == {"replicated", "shared"}
    with pytest.raises(ClusterSyncError, match="no cluster: section"):
        strategy_for(_settings(tmp_path, "monitoring: {{}}\n"))


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("backup", lambda c, d: api.backup(c, d / "config.yaml", "full", d / "out.tar.gz")),
        ("restore", lambda c, d: api.restore(c, d / "config.yaml", d / "in.tar.gz")),
        ("migrate", lambda c, d: api.migrate(c, "ALTER TABLE t ADD COLUMN x", None, here=True)),
        ("conflicts", lambda c, d: api.conflicts(c)),
        ("conflicts", lambda c, d: api.acknowledge_conflicts(c, None)),
        ("upgrade-check", lambda c, d: api.upgrade_check(c)),
    ],
)
def test_a_shared_member_says_what_to_do_instead_of_working_on_its_own_database(
    tmp_path: Path, operation: LocalOperation, call: Callable[[api.Settings, Path], object]
) -> None:
    config = _settings(tmp_path, SHARED)
    with pytest.raises(ClusterSyncError) as raised:
        call(config, tmp_path)
    assert str(raised.value) == f"{config.source}: strategy shared: {NO_OWN_DATABASE[operation]}"
    assert not (tmp_path / "out.tar.gz").exists() and not (tmp_path / "app.db").exists()


def test_the_command_prints_the_refusal_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _settings(tmp_path, SHARED)
    out = tmp_path / "out.tar.gz"
    assert clustersync(["backup", "--full", "-o", str(out), "-c", str(tmp_path / "config.yaml")]) == 1
    assert "strategy shared" in capsys.readouterr().err and "pg_dump" in NO_OWN_DATABASE["backup"]
    assert not out.exists()


def test_each_strategy_checks_its_own_section(tmp_path: Path) -> None:
    replicated = _settings(tmp_path, REPLICATED.replace("  database: {dir}/app.db\n", ""))
    with pytest.raises(ClusterSyncError, match=r"cluster\.database is required for strategy replicated"):
        api.check(replicated)
    no_address = _settings(tmp_path, SHARED.replace("  address: 127.0.218.1\n", ""))
    with pytest.raises(ClusterSyncError, match=r"cluster\.address is required"):
        api.check(no_address)
    assert api.check(_settings(tmp_path, SHARED)).dsn == "postgresql://ha@127.0.218.9/app"


def test_the_setup_snippet_has_the_strategys_own_lines() -> None:
    assert "dsn:" in setup_snippet("127.0.218.1", "shared")
    assert "database:" in setup_snippet("127.0.218.1", "replicated")
    assert "database:" in setup_snippet("127.0.218.1", "mirror")  # unknown: the default's lines
