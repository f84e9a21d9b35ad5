"""The mail service of simplefailover: engine transitions in, mails (or storm digests) out."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from habase.notify import Notifier
from habase.service import start_thread

from ..config import Config
from ..engine import Engine
from ..pollers.result import PollResult
from ..state import AnswerTable, Transition
from .certs import CertWarnings
from .digest import StormGate
from .messages import DNS_UPDATE, Mail, Origin, is_notable, origin_of, render, render_digest

logger = logging.getLogger(__name__)


class AlertService:
    """Mails polling failure and success, all nodes down and DNS update failure.

    `on_transitions` (subscribed to the engine) only appends to an inbox, so a poll
    thread never waits; this service's own thread applies the storm gate and renders
    mails, and the notifier's thread talks SMTP. Mail outcomes are recorded as engine
    events of kind "mail", so the dashboard lists them.
    """

    name = "alerts"

    def __init__(self, config: Config, engine: Engine) -> None:
        self._engine = engine
        self._config = config
        self._origin: Origin = origin_of(config)
        monitoring = config.monitoring
        self._gate: StormGate[Transition] = StormGate(monitoring.storm_threshold, monitoring.storm_window)
        self._inbox: deque[tuple[Transition, AnswerTable]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.notifier = Notifier(monitoring, self._record_outcome, self._record_webhook_outcome)
        self._certs = CertWarnings(monitoring.cert_warning_days)
        self.is_sender: Callable[[], bool] = lambda: True  # with peers: whether this instance mails

    def on_transitions(self, transitions: list[Transition]) -> None:
        """Engine listener: keep the transitions worth a mail, with the answers they led to."""
        with self._cond:  # poll threads call in concurrently
            notable = [t for t in transitions if is_notable(t)]
        if notable and self._config.monitoring.notifications:
            table = self._engine.table
            with self._cond:
                self._inbox.extend((t, table) for t in notable)
                self._cond.notify_all()

    def dns_update_failed(self, hostname: str, server: str, error: str) -> None:
        """Report that pushing `hostname`'s answer to `server` (RFC 2136) failed; mails it."""
        event = Transition(DNS_UPDATE, time.time(), "", "failed", f"{server}: {error}", hostname=hostname)
        logger.warning("DNS update of %s on %s failed: %s", hostname or "the zone", server, error)
        self._engine.add_event(event)
        self.on_transitions([event])

    def observe_result(self, node_id: str, polling_id: str, result: PollResult) -> None:
        """Poll-path hook: warn once when a checked TLS certificate runs short (cheap when not)."""
        with self._cond:
            warning = self._certs.observe(node_id, polling_id, result.cert_not_after, result.at)
        if warning is None:
            return
        logger.warning("%s/%s: %s", node_id, polling_id, warning.reason)
        self._engine.add_event(warning)
        if self.is_sender():
            self.on_transitions([warning])

    def start(self) -> None:
        self._stopping = False
        self.notifier.start()
        self._thread = start_thread("alerts", self._run)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.notifier.stop()

    def reconfigure(self, config: Config) -> None:
        """New recipients, SMTP settings and storm limits apply to the next mail."""
        with self._cond:
            self._config = config
            self._origin = origin_of(config)
            self._gate.retune(config.monitoring.storm_threshold, config.monitoring.storm_window)
            self._certs.retune(config.monitoring.cert_warning_days)
            self._cond.notify_all()
        self.notifier.reconfigure(config.monitoring)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing waits in the inbox or the mail queue (a held storm aside)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._inbox:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return self.notifier.wait_idle(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._inbox and not self._digest_due():
                    deadline = self._gate.deadline
                    self._cond.wait(None if deadline is None else max(0.0, deadline - time.time()))
                items = list(self._inbox)
                self._inbox.clear()
                config, origin, stopping = self._config, self._origin, self._stopping
                if stopping:  # last round: everything out, a storm as its digest
                    passed, digest = items, self._gate.flush()
                else:
                    passed = [(t, table) for t, table in items if self._gate.offer(t, time.time())]
                    digest = self._gate.due(time.time())
                self._cond.notify_all()
            for t, table in passed:
                self._send(render(t, config, table, origin))
            if digest:
                logger.warning("notification storm: %d changes collapsed into one digest", len(digest))
                self._send(render_digest(digest, config, self._engine.table, origin))
            if stopping:
                return

    def _digest_due(self) -> bool:
        deadline = self._gate.deadline
        return deadline is not None and time.time() >= deadline

    def _send(self, mail: Mail) -> None:
        self.notifier.notify(mail.subject, mail.body)

    def _record_outcome(self, outcome: str, subject: str, detail: str) -> None:
        reason = f"{subject}: {detail}" if detail else subject
        self._engine.add_event(Transition("mail", time.time(), "", outcome, reason))

    def _record_webhook_outcome(self, where: str, outcome: str, subject: str, detail: str) -> None:
        reason = f"{where}: {subject}" + (f": {detail}" if detail else "")
        self._engine.add_event(Transition("webhook", time.time(), "", outcome, reason))
