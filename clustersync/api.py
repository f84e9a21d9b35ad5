"""The one door into clustersync for simplefailover (the config for now; issue 18a adds the rest).

simplefailover's config embeds clustersync's `cluster:` model, so `simplefailover check`
reports errors of that section with file and line, validated by clustersync's own model.
"""

from __future__ import annotations

import os

from habase.errors import ConfigError

from .config import Cluster, ClusterConfig, Settings, load_settings

__all__ = ["Cluster", "ClusterConfig", "Settings", "check_config", "load_settings"]


def check_config(path: str | os.PathLike[str]) -> list[str]:
    """Every problem in clustersync's sections of a config file (file and line in each); [] when valid."""
    try:
        load_settings(path)
    except ConfigError as exc:
        return exc.problems
    return []
