"""The sending queue: its own thread, retries with exponential back-off, nothing lost while running.

One queue per destination: the SMTP server, and each webhook (habase.notify.webhook).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ..service import start_thread
from .mailer import MailError


class Item(Protocol):
    @property
    def subject(self) -> str: ...


T = TypeVar("T", bound=Item)
logger = logging.getLogger(__name__)

# One connection's worth of sending: the yielded function sends one item or raises MailError.
Session = Callable[[], AbstractContextManager[Callable[[T], None]]]
# (outcome: "sent" | "failed" | "given up", item, detail)
Outcome = Callable[[str, T, str], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry."""

    retries: int = 10
    delay: float = 5.0
    max_delay: float = 300.0

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the n-th consecutive failure: delay, 2*delay, 4*delay ... up to max_delay."""
        return min(self.max_delay, self.delay * 2 ** max(0, failures - 1))


@dataclass(eq=False)  # identity: two equal mails are still two mails
class _Envelope(Generic[T]):
    mail: T
    queued: float
    attempts: int = 0


class SendQueue(Generic[T]):
    """Mails waiting to go out, sent by one background thread.

    A failure backs off the whole queue (the server is down for every mail alike),
    each waiting mail counts the attempt, and a mail is given up only after
    `retries` retries, with an ERROR in the log. Callers never wait on SMTP.
    """

    def __init__(
        self, session: Session[T], policy: RetryPolicy, outcome: Outcome[T], name: str = "mail-queue"
    ) -> None:
        self._name = name
        self._session = session
        self._policy = policy
        self._outcome = outcome
        self._pending: deque[_Envelope[T]] = deque()
        self._cond = threading.Condition()
        self._failures = 0
        self._next_try = 0.0
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def put(self, mail: T) -> None:
        """Queue a mail; returns at once."""
        with self._cond:
            self._pending.append(_Envelope(mail, time.time()))
            self._cond.notify_all()

    def retune(self, session: Session[T], policy: RetryPolicy) -> None:
        """Use new server settings or limits; waiting mails are retried at once with them."""
        with self._cond:
            self._session, self._policy = session, policy
            self._failures, self._next_try = 0, 0.0
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Mails not yet sent nor given up."""
        with self._cond:
            return len(self._pending)  # a batch being sent stays listed until each mail is done

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued mail is sent or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def start(self) -> None:
        self._stopping = False
        self._thread = start_thread(self._name, self._run)

    def stop(self, timeout: float = 5.0) -> None:
        """Give queued mail up to `timeout` s in all if the server answers, then stop; report what
        is left (a mail still being sent when the time is up counts as left: the process may end)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            # Drain only while the server answers: the first failure ends the wait.
            while self._thread is not None and self._failures == 0 and (self._pending or self._busy):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))  # the drain and the join: one deadline
            self._thread = None
        with self._cond:
            if self._pending:
                logger.warning(
                    "stopping with %d mail(s) unsent: %s",
                    len(self._pending),
                    "; ".join(e.mail.subject for e in self._pending),
                )

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._pending or time.time() < self._next_try):
                    wait = self._next_try - time.time() if self._pending else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                batch = list(self._pending)
                session, policy = self._session, self._policy
                self._busy = True
            try:
                self._attempt(batch, session, policy)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _attempt(self, batch: list[_Envelope[T]], session: Session[T], policy: RetryPolicy) -> None:
        """Send the batch over one connection; on a transient error, back off the queue."""
        try:
            with session() as send:
                for envelope in batch:
                    try:
                        send(envelope.mail)
                    except MailError as exc:
                        if not exc.permanent:
                            raise
                        self._done(envelope)
                        self._outcome("given up", envelope.mail, f"{exc} (permanent error, not retried)")
                        continue
                    self._done(envelope)
                    with self._cond:
                        self._failures = 0
                    self._outcome("sent", envelope.mail, "")
        except Exception as exc:  # every failure is retried: a bug must not lose mail either
            detail = str(exc) if isinstance(exc, MailError) else f"{type(exc).__name__}: {exc}"
            self._failed(batch, policy, detail)

    def _failed(self, batch: list[_Envelope[T]], policy: RetryPolicy, detail: str) -> None:
        given_up: list[_Envelope[T]] = []
        with self._cond:
            self._failures += 1
            delay = policy.backoff(self._failures)
            self._next_try = time.time() + delay
            for envelope in batch:
                if envelope not in self._pending:
                    continue
                envelope.attempts += 1
                if envelope.attempts > policy.retries:
                    self._pending.remove(envelope)
                    given_up.append(envelope)
            waiting = len(self._pending)
        for envelope in given_up:
            self._outcome("given up", envelope.mail, f"{detail} (after {envelope.attempts} attempts)")
        if waiting:
            self._outcome(
                "failed", batch[0].mail, f"{detail}; {waiting} mail(s) waiting, retry in {delay:.1f} s"
            )

    def _done(self, envelope: _Envelope[T]) -> None:
        with self._cond:
            if envelope in self._pending:
                self._pending.remove(envelope)
