"""Pure: when a checked TLS certificate deserves its one "expires soon" warning."""

from __future__ import annotations

import time

from ..pollers.certs import days_left
from ..state import CheckKey, Transition
from .messages import CERT_EXPIRY


class CertWarnings:
    """One warning per (node, polling) when its certificate has fewer than `days` days left.

    The warning is not repeated at every poll: it comes again only after a check has seen
    a certificate with enough days left (renewed), and then one running short again.
    Time comes in with each result, so the rule tests without a clock.
    """

    def __init__(self, days: float) -> None:
        self.days = days
        self._warned: set[CheckKey] = set()

    def retune(self, days: float) -> None:
        """A new monitoring.cert_warning_days; past warnings stand."""
        self.days = days

    def observe(
        self, node_id: str, polling_id: str, not_after: float | None, now: float
    ) -> Transition | None:
        """Fold in one result's certificate expiry; the warning when it is due."""
        if not_after is None or self.days <= 0:
            return None
        key = (node_id, polling_id)
        left = days_left(not_after, now)
        if left >= self.days:
            self._warned.discard(key)
            return None
        if key in self._warned:
            return None
        self._warned.add(key)
        expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(not_after))
        state = "expired" if left < 0 else f"{left:.1f} days left"
        reason = f"TLS certificate expires {expires} ({state}; warning under {self.days:g} days)"
        return Transition(CERT_EXPIRY, now, "", state, reason, node_id=node_id, polling_id=polling_id)
