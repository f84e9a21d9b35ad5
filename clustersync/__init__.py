"""clustersync: keep the cluster nodes' application data in sync around a ring."""

__version__ = "0.1.0"
