"""SimpleFailover: keep a DNS name pointed at a healthy cluster node."""

__version__ = "0.1.0"
