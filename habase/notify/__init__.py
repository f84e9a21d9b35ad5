"""Notifications both products send: `Notifier.notify(subject, body)` to the mail recipients
and every webhook of the `monitoring` section, queued and retried off the caller's thread.

The texts are each product's own (simplefailover.notify.messages, clustersync's events).
"""

from .mailer import Mail, MailError
from .notifier import Notifier

__all__ = ["Mail", "MailError", "Notifier"]
