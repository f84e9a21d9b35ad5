"""Email notifications: one mailer shared by simplefailover and clustersync.

`Notifier.notify(subject, body)` is the generic API (queued, retried, sent off the
caller's thread); `AlertService` turns the engine's transitions into mails on top of it.
"""

from .alerts import AlertService
from .notifier import Notifier

__all__ = ["AlertService", "Notifier"]
