"""The `simplefailover` command run as a separate process, as an administrator runs it."""

from __future__ import annotations

import subprocess
import sys


def simplefailover(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m simplefailover ARGS`; its exit code, stdout and stderr (text)."""
    return subprocess.run(
        [sys.executable, "-m", "simplefailover", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
