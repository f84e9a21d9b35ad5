"""The packages' import graph, read from the source: no cycle, and only the allowed arrows.

Imports inside functions count (tests/support/imports.py): they hid the cycles this test was
written against. The rules, which docs/architecture.md draws:
- no module imports, directly or not, a module that imports it back;
- clustersync imports nothing of simplefailover: what both need is in habase;
- simplefailover reaches clustersync only through clustersync.api, its one door;
- habase, under both, imports neither product;
- inside clustersync, a module imports only modules of its own layer or of the layers below.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.imports import cycles, import_graph

Graph = Mapping[str, set[str]]
PACKAGES = ("simplefailover", "clustersync", "habase")

# clustersync's layers, bottom first: a module's layer is that of its longest listed prefix.
LAYERS = (
    ("clustersync", "clustersync.config"),
    ("clustersync.core",),
    ("clustersync.store", "clustersync.wire"),
    ("clustersync.ops",),
    ("clustersync.sync.session",),
    ("clustersync.join",),
    ("clustersync.sync.daemon", "clustersync.shared"),
    ("clustersync.sync.replicated", "clustersync.shared.strategy"),
    ("clustersync.strategies",),
    ("clustersync.sync.runner",),
    ("clustersync.api",),
    ("clustersync.cli", "clustersync.__main__"),
)


def layer(module: str) -> int | None:
    """The layer of a clustersync module (index in LAYERS), or None for another package's."""
    index = {prefix: i for i, prefixes in enumerate(LAYERS) for prefix in prefixes}
    name = module
    while name and name not in index:  # the longest listed prefix
        name = name.rpartition(".")[0]
    return index.get(name)


def forbidden(source: str, target: str) -> str | None:
    """Why an arrow source -> target breaks the rules, or None when it is allowed."""
    src, dst = source.partition(".")[0], target.partition(".")[0]
    if src == "clustersync" and dst == "simplefailover":
        return "clustersync imports simplefailover (what both need belongs in habase)"
    if src == "simplefailover" and dst == "clustersync" and target != "clustersync.api":
        return "simplefailover goes around clustersync.api"
    if src == "habase" and dst in ("simplefailover", "clustersync"):
        return "habase imports a product"
    low, high = layer(target), layer(source)
    if low is not None and high is not None and low > high:
        return f"goes up clustersync's layers ({LAYERS[high][0]} is under {LAYERS[low][0]} in LAYERS)"
    return None


def arrows(graph: Graph) -> list[tuple[str, str]]:
    """Every arrow of the graph, sorted."""
    return sorted((a, b) for a, targets in graph.items() for b in targets)


def a_loop(graph: Graph, component: list[str]) -> list[str]:
    """One concrete loop through a cycle's first module (a -> b -> ... -> a), the shortest."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node]):
            if child == start:
                return [*paths[node], start]
            if child in members and child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return component


@pytest.fixture(scope="module")
def graph() -> Graph:
    found = import_graph(*PACKAGES)
    for package in ("simplefailover", "clustersync"):
        assert any(m.startswith(f"{package}.") for m in found), f"no module of {package} found"
    return found


def test_no_import_cycle(graph: Graph) -> None:
    loops = [" -> ".join(a_loop(graph, c)) + f" ({len(c)} modules)" for c in cycles(dict(graph))]
    assert not loops, "import cycles (break each: move what both need down):\n  " + "\n  ".join(loops)


def test_no_forbidden_arrow(graph: Graph) -> None:
    bad = [f"{a} -> {b}: {why}" for a, b in arrows(graph) if (why := forbidden(a, b))]
    assert not bad, f"{len(bad)} forbidden import(s):\n  " + "\n  ".join(bad)


def test_every_clustersync_module_has_a_layer(graph: Graph) -> None:
    assert [m for m in graph if m.startswith("clustersync") and layer(m) is None] == []


def test_the_walk_sees_imports_inside_functions_and_skips_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .b import g\n    return g\n")
    (package / "b.py").write_text("from . import a\n\ndef g():\n    return a\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n"
    )
    graph = import_graph("pkg", root=tmp_path)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.c"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


def test_loop_shown_is_a_real_loop() -> None:
    graph = {"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert a_loop(graph, ["a", "b", "c"]) == ["a", "b", "a"]


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("clustersync.sync.daemon", "simplefailover.config", False),
        ("clustersync", "simplefailover", False),
        ("simplefailover.dashboard.ha", "clustersync.cli.main", False),
        ("simplefailover.dashboard.ha", "clustersync.core.errors", False),
        ("habase.loader", "clustersync.api", False),
        ("clustersync.core.ring", "clustersync.store.database", False),  # up a layer
        ("clustersync.ops.control", "clustersync.shared.node", False),  # the cycle this test found
        ("clustersync.shared.node", "clustersync.shared.strategy", False),
        ("simplefailover.dashboard.ha", "clustersync.api", True),
        ("clustersync.api", "habase.notify", True),
        ("clustersync.cli.main", "clustersync.core.errors", True),  # down several layers
        ("clustersync.shared.strategy", "clustersync.shared.node", True),
        ("clustersync.store.reads", "clustersync.store.quarantine", True),  # one layer
        ("simplefailover.engine", "habase.errors", True),
    ],
)
def test_rules(source: str, target: str, allowed: bool) -> None:
    assert (forbidden(source, target) is None) == allowed
