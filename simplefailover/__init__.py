"""SimpleFailover: keep a DNS name pointed at a healthy cluster node."""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "simplefailover"  # the installed package that holds both simplefailover and clustersync


def installed_version() -> str:
    """The installed package's version (its metadata), or "0+unknown" in a tree never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


__version__ = installed_version()
