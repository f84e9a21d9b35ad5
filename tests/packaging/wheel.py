"""The product as users install it: the wheel built from this tree, in a fresh venv, no extras.

Built from a copy of the tracked files (a stale build/ in the checkout can never leak into
it), installed with pip's own cache, and run with the checkout nowhere on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class InstalledProduct:
    """A venv holding only the built wheel and its required dependencies."""

    venv: Path
    wheel: Path
    seconds: float  # to build and install

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self) -> dict[str, str]:
        """The environment for the venv's commands: nothing from the checkout's venv or tree."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        paths = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(ROOT))]
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), *paths])
        env["PYTHONUNBUFFERED"] = "1"
        return env


def _run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def source_copy(into: Path) -> Path:
    """The tree's tracked and new (not ignored) files, copied: what a clean clone would build."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def build_and_install(work: Path) -> InstalledProduct:
    """pip wheel --no-deps of this tree, then a fresh venv with that wheel and no extras."""
    started = time.monotonic()
    source = source_copy(work / "src")
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)], work)
    (wheel,) = dist.glob("simplefailover-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], work)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], work)
    return InstalledProduct(venv, wheel, time.monotonic() - started)
