"""The arrows between the packages: habase imports neither product, clustersync nothing of simplefailover.

(simplefailover -> clustersync only through clustersync.api is the import-graph test's business.)
"""

from __future__ import annotations

from tests.support.imports import cycles, import_graph

GRAPH = import_graph("habase", "simplefailover", "clustersync")


def arrows(source: str, target: str) -> list[str]:
    return sorted(
        f"{module} -> {imported}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] == source
        for imported in targets
        if imported.split(".")[0] == target
    )


def test_habase_imports_neither_product() -> None:
    assert arrows("habase", "simplefailover") + arrows("habase", "clustersync") == []


def test_clustersync_imports_nothing_of_simplefailover() -> None:
    assert arrows("clustersync", "simplefailover") == []


def test_simplefailovers_config_reaches_clustersync_through_its_api() -> None:
    config = [a for a in arrows("simplefailover", "clustersync") if a.startswith("simplefailover.config")]
    assert config == ["simplefailover.config -> clustersync.api"]


def test_no_cycle_in_habase() -> None:
    assert cycles({m: t for m, t in GRAPH.items() if m.split(".")[0] == "habase"}) == []
