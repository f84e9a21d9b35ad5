"""Every module of the package imports without the optional and test-only libraries.

The wheel test (test_wheel.py) proves it on a real install without extras; this one is the
fast check, in a child interpreter where those libraries cannot be imported at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Libraries the package must never need at import time: the `postgres` extra and the test tools.
BLOCKED = ["psycopg", "psycopg_binary", "playwright", "trustme", "hypothesis", "pytest"]
# The shared strategy's modules: they need the driver, and say how to install it.
NEEDS_DRIVER = ["clustersync.shared.driver", "clustersync.shared.membership", "clustersync.shared.node"]

CHILD = textwrap.dedent(
    """
    import importlib, importlib.abc, json, pkgutil, sys

    blocked = set(sys.argv[1].split(","))
    needs_driver = set(sys.argv[2].split(","))

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    result = {"ok": [], "failed": {}, "driver": {}}
    for top in ("habase", "simplefailover", "clustersync"):
        package = importlib.import_module(top)
        names = [top] + [m.name for m in pkgutil.walk_packages(package.__path__, top + ".")]
        for name in names:
            if name.endswith("__main__"):
                continue  # running it is the CLI tests' business
            try:
                importlib.import_module(name)
            except Exception as exc:
                target = result["driver"] if name in needs_driver else result["failed"]
                target[name] = f"{type(exc).__name__}: {exc}"
            else:
                result["ok"].append(name)
    result["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in blocked)
    print(json.dumps(result))
    """
)


def test_every_module_imports_without_optional_libraries() -> None:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(BLOCKED), ",".join(NEEDS_DRIVER)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["failed"] == {}
    assert result["loaded"] == []
    # The check can fail: the modules that do need the driver were refused, and say what to install.
    assert set(result["driver"]) == set(NEEDS_DRIVER)
    for message in result["driver"].values():
        assert message.startswith("ClusterSyncError: strategy shared needs the PostgreSQL driver")
        assert "simplefailover[postgres]" in message
    assert {
        "simplefailover.daemon",
        "simplefailover.dashboard.ha",
        "clustersync.cli.main",
        "clustersync.sync.daemon",
    } <= set(result["ok"])
