"""The generic notification API shared by simplefailover and clustersync: notify(subject, body)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..config import Monitoring
from .mailer import Mailer
from .messages import Mail
from .queue import RetryPolicy, SendQueue

logger = logging.getLogger(__name__)

# (outcome: "sent" | "failed" | "given up", subject, detail)
OutcomeListener = Callable[[str, str, str], None]


def policy_of(monitoring: Monitoring) -> RetryPolicy:
    """The retry policy configured in the monitoring section."""
    return RetryPolicy(monitoring.retries, monitoring.retry_delay, monitoring.retry_max_delay)


class Notifier:
    """Queue mails to the monitoring recipients; a background thread sends and retries them.

    `notify` never blocks on SMTP. Settings and recipients come from the `monitoring`
    config section and can be replaced while running with `reconfigure`: mails still
    waiting then go out with the new settings, to the new recipients.
    """

    name = "mail"

    def __init__(self, monitoring: Monitoring, on_outcome: OutcomeListener | None = None) -> None:
        self._monitoring = monitoring
        self._on_outcome = on_outcome
        self._mailer = Mailer(monitoring.smtp, monitoring.recipients)
        self._queue = SendQueue(self._mailer.session, policy_of(monitoring), self._outcome)
        self._warned_no_recipients = False

    @property
    def monitoring(self) -> Monitoring:
        return self._monitoring

    def notify(self, subject: str, body: str) -> bool:
        """Queue a plain-text mail to every recipient; False when mail is off or has nowhere to go."""
        monitoring = self._monitoring
        if not monitoring.notifications:
            logger.debug("notifications off (monitoring.notifications: false): not mailing %r", subject)
            return False
        if not monitoring.recipients:
            if not self._warned_no_recipients:
                self._warned_no_recipients = True
                logger.warning(
                    "monitoring.recipients is empty: no notification will be mailed (first: %r)", subject
                )
            return False
        self._queue.put(Mail(subject, body))
        return True

    def start(self) -> None:
        self._queue.start()

    def stop(self) -> None:
        self._queue.stop(timeout=self._monitoring.smtp.timeout + 1)

    def reconfigure(self, monitoring: Monitoring) -> None:
        """Use new SMTP settings, recipients and retry limits from now on."""
        if monitoring == self._monitoring:
            return
        if monitoring.recipients != self._monitoring.recipients:
            self._warned_no_recipients = False
        self._monitoring = monitoring
        self._mailer = Mailer(monitoring.smtp, monitoring.recipients)
        self._queue.retune(self._mailer.session, policy_of(monitoring))
        logger.info(
            "mail settings now: %s to %s", self._mailer.where, ", ".join(monitoring.recipients) or "nobody"
        )

    @property
    def pending(self) -> int:
        """Mails queued and not yet sent nor given up."""
        return self._queue.pending

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the queue is empty (sent or given up); False on timeout."""
        return self._queue.wait_idle(timeout)

    def _outcome(self, outcome: str, mail: Mail, detail: str) -> None:
        if outcome == "sent":
            logger.info("mail sent to %s: %s", ", ".join(self._mailer.recipients), mail.subject)
        elif outcome == "failed":
            logger.warning("mail not sent yet (%s): %s", mail.subject, detail)
        else:
            logger.error("mail given up: %s: %s", mail.subject, detail)
        if self._on_outcome is not None:
            try:
                self._on_outcome(outcome, mail.subject, detail)
            except Exception:
                logger.exception("mail outcome listener failed")
