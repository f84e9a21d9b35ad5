"""What one check of one node returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PollResult:
    """The outcome of one check: a down node is a result, not an exception."""

    ok: bool
    latency: float  # seconds from start to verdict
    error: str  # empty when ok
    at: float  # wall-clock time the check finished (time.time())
    cert_not_after: float | None = None  # TLS checks: when the node's certificate expires (Unix time)

    @property
    def status(self) -> str:
        """OK or KO, as shown to people."""
        return "OK" if self.ok else "KO"
