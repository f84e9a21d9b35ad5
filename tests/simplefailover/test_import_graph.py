"""simplefailover's modules import each other without a cycle, counting imports inside functions."""

from __future__ import annotations

from pathlib import Path

from tests.support.imports import cycles, import_graph


def test_no_import_cycle_in_simplefailover() -> None:
    graph = import_graph("simplefailover")
    found = cycles(graph)
    shown = [
        " <-> ".join(c) + ": " + "; ".join(f"{a} -> {sorted(graph[a] & set(c))}" for a in c) for c in found
    ]
    assert found == [], "\n".join(shown)


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
