"""SimpleFailover: keep a DNS name pointed at a healthy cluster node."""

from habase import __version__

__all__ = ["__version__"]
