"""What simplefailover and clustersync both use, and nothing product-specific.

Config loading with file and line, the config error, shared config types (host:port, the
`monitoring` section), the mailer, service and thread helpers, the atomic file write, and the
launchers' free port (ports.py).
It imports neither product.
"""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "simplefailover"  # the installed package that holds simplefailover, clustersync and habase


def installed_version() -> str:
    """The installed package's version (its metadata), or "0+unknown" in a tree never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


__version__ = installed_version()  # one distribution, one version: the one peers compare (CL-10)
