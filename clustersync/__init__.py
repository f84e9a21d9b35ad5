"""clustersync: keep the cluster nodes' application data in sync around a ring."""

from habase import __version__  # one distribution, one version: the one peers compare (CL-10)

__all__ = ["__version__"]
