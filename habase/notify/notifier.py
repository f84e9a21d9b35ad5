"""The generic notification API shared by simplefailover and clustersync: notify(subject, body).

Every notification goes to the mail recipients and to each webhook (monitoring.webhooks),
each destination through its own queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..settings import Monitoring, Webhook
from .mailer import Mail, Mailer
from .queue import RetryPolicy, SendQueue
from .webhook import Notice, WebhookQueue

logger = logging.getLogger(__name__)

# (outcome: "sent" | "failed" | "given up", subject, detail)
OutcomeListener = Callable[[str, str, str], None]
# (webhook's receiver, outcome, subject, detail)
WebhookListener = Callable[[str, str, str, str], None]


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

    def __init__(
        self,
        monitoring: Monitoring,
        on_outcome: OutcomeListener | None = None,
        on_webhook_outcome: WebhookListener | None = None,
    ) -> None:
        self._monitoring = monitoring
        self._on_outcome = on_outcome
        self._on_webhook_outcome = on_webhook_outcome
        self._mailer = Mailer(monitoring.smtp, monitoring.recipients)
        self._queue: SendQueue[Mail] = SendQueue(self._mailer.session, policy_of(monitoring), self._outcome)
        self._webhooks = {hook.url: self._webhook_queue(hook) for hook in monitoring.webhooks}
        self._lock = threading.Lock()  # notify (any thread) against reconfigure
        self._started = False
        self._warned_no_recipients = False

    @property
    def monitoring(self) -> Monitoring:
        return self._monitoring

    def notify(self, subject: str, body: str) -> bool:
        """Queue a plain-text mail to every recipient and a POST to every webhook.

        False when notifications are off or have nowhere to go.
        """
        monitoring = self._monitoring
        if not monitoring.notifications:
            logger.debug("notifications off (monitoring.notifications: false): not mailing %r", subject)
            return False
        notice = Notice(subject, body)
        with self._lock:
            webhooks = list(self._webhooks.values())
            for webhook in webhooks:
                webhook.put(notice)
        if not monitoring.recipients:
            if not self._warned_no_recipients:
                self._warned_no_recipients = True
                logger.warning(
                    "monitoring.recipients is empty: no notification will be mailed (first: %r)", subject
                )
            return bool(webhooks)
        self._queue.put(Mail(subject, body))
        return True

    def start(self) -> None:
        self._started = True
        self._queue.start()
        for webhook in self._webhooks.values():
            webhook.start()

    def stop(self) -> None:
        self._started = False
        self._queue.stop(timeout=self._monitoring.smtp.timeout + 1)
        for webhook in self._webhooks.values():
            webhook.stop()

    def reconfigure(self, monitoring: Monitoring) -> None:
        """Use new SMTP settings, recipients and retry limits from now on."""
        if monitoring == self._monitoring:
            return
        if monitoring.recipients != self._monitoring.recipients:
            self._warned_no_recipients = False
        old = self._monitoring
        self._monitoring = monitoring
        self._mailer = Mailer(monitoring.smtp, monitoring.recipients)
        self._queue.retune(self._mailer.session, policy_of(monitoring))
        if (old.smtp, old.recipients) != (monitoring.smtp, monitoring.recipients):
            logger.info(
                "mail settings now: %s to %s",
                self._mailer.where,
                ", ".join(monitoring.recipients) or "nobody",
            )
        self._reconfigure_webhooks(monitoring, policy_of(old) != policy_of(monitoring))

    def _reconfigure_webhooks(self, monitoring: Monitoring, new_policy: bool) -> None:
        """Same URL: new settings, waiting notices kept; new URL: a new queue; gone: stopped."""
        wanted = {hook.url: hook for hook in monitoring.webhooks}
        with self._lock:
            old = self._webhooks
            gone = [queue for url, queue in old.items() if url not in wanted]
            self._webhooks = {url: old.get(url) or self._webhook_queue(hook) for url, hook in wanted.items()}
        for queue in gone:
            logger.info("webhook %s removed", queue.hook.where)
            queue.stop()
        for url, hook in wanted.items():
            queue = self._webhooks[url]
            if url not in old:
                logger.info("webhook %s added (%s)", hook.where, hook.format)
                if self._started:
                    queue.start()
            elif queue.hook != hook or new_policy:
                queue.retune(hook, policy_of(monitoring))

    @property
    def pending(self) -> int:
        """Mails and webhook POSTs queued and not yet sent nor given up."""
        return self._queue.pending + sum(w.pending for w in self._webhooks.values())

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queue is empty (sent or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        queues: list[SendQueue[Mail] | WebhookQueue] = [self._queue, *self._webhooks.values()]
        return all(queue.wait_idle(max(0.0, deadline - time.monotonic())) for queue in queues)

    def _webhook_queue(self, hook: Webhook) -> WebhookQueue:
        return WebhookQueue(hook, policy_of(self._monitoring), self._webhook_outcome)

    def _webhook_outcome(self, hook: Webhook, outcome: str, notice: Notice, detail: str) -> None:
        if outcome == "sent":
            logger.info("webhook %s: posted %s", hook.where, notice.subject)
        elif outcome == "failed":
            logger.warning("webhook %s: not posted yet (%s): %s", hook.where, notice.subject, detail)
        else:
            logger.error("webhook %s: given up: %s: %s", hook.where, notice.subject, detail)
        if self._on_webhook_outcome is not None:
            try:
                self._on_webhook_outcome(hook.where, outcome, notice.subject, detail)
            except Exception:
                logger.exception("webhook outcome listener failed")

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
