"""simplefailover's notifications: the engine's transitions as mails (texts, digests, certificates).

They go out through habase.notify's `Notifier`, the one mailer both products share.
"""

from .alerts import AlertService

__all__ = ["AlertService"]
