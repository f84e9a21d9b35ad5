"""The exceptions clustersync raises on purpose."""

from __future__ import annotations


class ClusterSyncError(Exception):
    """Base of every error clustersync raises on purpose; the message says what and where."""


class SchemaError(ClusterSyncError):
    """A replicated table is missing or cannot be replicated (no primary key...)."""


class ProtocolError(ClusterSyncError):
    """A peer sent something malformed, oversized or unauthenticated."""


class RemoteError(ClusterSyncError):
    """The peer answered with an error message."""


class Refused(ClusterSyncError):
    """The session was refused on purpose (clock offset, version mismatch, busy)."""

    def __init__(self, reason: str, detail: str, offset: float | None = None) -> None:
        self.reason = reason
        self.offset = offset  # the measured clock offset, when known
        super().__init__(detail)


class ApplyError(ClusterSyncError):
    """A change from a peer cannot be written here (a constraint, a column this table lacks)."""
