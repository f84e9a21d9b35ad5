"""The config file as the commands read it: its default path, and loading that reports every problem.

Every `simplefailover` subcommand that needs the config loads it here, so an invalid file reads
the same whichever command found it. The running service loads with `config.load_config` and
logs instead (daemon.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..config import Config, load_config
from ..errors import ConfigError

DEFAULT_CONFIG = "/etc/simplefailover/config.yaml"


def load_or_report(path: str | Path) -> Config | None:
    """Load the config; on problems print every one of them to stderr and return None."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{path}: invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
