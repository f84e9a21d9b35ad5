"""The installed product for the network drill: a wheel built from this checkout, in a cached venv.

`pip wheel --no-deps` builds the wheel from a copy of the checkout (the checkout itself stays
clean); the venv is keyed by a hash of the wheel's RECORD (every file's SHA-256), so an
unchanged tree reuses it and any change gets a venv of its own. The nodes run that venv's
Python with no path to the checkout: what they run is what a user installs.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE = Path("/var/tmp/simplefailover-chaos")
# The wheel without extras runs every command (SPEC X-6): the drill installs it as a user would.
EXTRAS = ""
KEEP_OLD = 3600.0  # seconds: older venvs of other builds are removed
SOURCES = ("pyproject.toml", "README.md", "habase", "simplefailover", "clustersync")


class InstallError(RuntimeError):
    """Building the wheel or the venv failed."""


def checkout() -> Path:
    """The source tree this module belongs to."""
    return Path(__file__).resolve().parents[2]


def build_wheel(source: Path, out: Path) -> Path:
    """`pip wheel --no-deps` of a copy of source (no build/ or egg-info left in it); the wheel."""
    with tempfile.TemporaryDirectory(prefix="sf-chaos-src-") as tmp:
        copy = Path(tmp) / "src"
        copy.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in SOURCES:
            path = source / name
            if path.is_dir():
                shutil.copytree(path, copy / name, ignore=ignore)
            elif path.exists():
                shutil.copy2(path, copy / name)
        out.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(copy)], 300)
    wheels = sorted(out.glob("simplefailover-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise InstallError(f"pip wheel made no simplefailover wheel in {out}")
    return wheels[-1]


def wheel_key(wheel: Path) -> str:
    """A hash of the wheel's content (its RECORD lists every file's SHA-256), not of its zip bytes."""
    with zipfile.ZipFile(wheel) as archive:
        record = next((n for n in archive.namelist() if n.endswith(".dist-info/RECORD")), None)
        if record is None:
            raise InstallError(f"{wheel} has no RECORD")
        return hashlib.sha256(archive.read(record)).hexdigest()[:16]


def installed_python(source: Path | None = None, cache: Path = CACHE) -> Path:
    """The Python of a venv with this checkout's wheel installed; built once per content."""
    source = source or checkout()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wheel-", dir=cache) as tmp:
        wheel = build_wheel(source, Path(tmp))
        key = wheel_key(wheel)
        venv = cache / f"venv-{key}"
        python = venv / "bin" / "python"
        if (venv / ".ready").exists():
            return python
        _remove_old(cache, keep=venv)
        # A venv's scripts name its folder: built in place, ready once the stamp is written.
        shutil.rmtree(venv, ignore_errors=True)
        logger.warning("installing %s%s into %s ...", wheel.name, EXTRAS, venv)
        try:
            _run([sys.executable, "-m", "venv", str(venv)], 120)
            _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  f"{wheel}{EXTRAS}"], 600)  # fmt: skip
        except InstallError:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        (venv / ".ready").write_text(wheel.name + "\n")
        return python


def _remove_old(cache: Path, keep: Path) -> None:
    for old in cache.glob("venv-*"):
        if old != keep and time.time() - old.stat().st_mtime > KEEP_OLD:
            shutil.rmtree(old, ignore_errors=True)


def _run(argv: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise InstallError(f"{' '.join(argv)}: timed out after {timeout:g} s") from exc
    if done.returncode != 0:
        raise InstallError(f"{' '.join(argv)}:\n{(done.stderr or done.stdout).strip()[-2000:]}")
