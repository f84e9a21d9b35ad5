"""The RFC 2136 updater service: keeps an existing DNS server holding the agreed answers.

Engine listeners only raise a flag; one thread of its own reads the server, decides with
`update_plan` and sends at most one UPDATE per hostname change, so a slow or dead DNS
server never holds up a poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from habase.service import start_thread

from ..config import Config, DnsUpdate
from ..engine import Engine
from ..metrics import Metrics
from ..state import Transition
from .update_client import PrerequisiteFailed, UpdateClient, UpdateError
from .update_plan import Records, backoff, changed_names, plan_change, update_zone, wanted_records

logger = logging.getLogger(__name__)

FailureListener = Callable[[str, str, str], None]  # (hostname, server, error)

DNS_UPDATE = "dns_update"  # Transition.kind, as the notifier names it
CONFLICT_ROUNDS = 3  # reads after a failed prerequisite before calling it a fight
IDLE_WAIT = 1.0  # seconds; re-check readiness and settings at least this often


@dataclass(slots=True)
class _Retry:
    failures: int
    due: float
    error: str
    alerted: bool = False


class DnsUpdater:
    """Push each managed hostname's answer to dns.update.server; put it right when it drifts."""

    name = "dns-update"

    def __init__(
        self,
        config: Config,
        engine: Engine,
        metrics: Metrics,
        on_failure: FailureListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._on_failure = on_failure
        self._clock = clock
        self._cond = threading.Condition()
        self._config = config
        self._wake = False
        self._resync = True
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Touched by the updater thread only:
        self._client: UpdateClient | None = None
        self._client_for: tuple[DnsUpdate, str] | None = None
        self._last_wanted: dict[str, Records] = {}
        self._retries: dict[str, _Retry] = {}
        self._confirmed: dict[str, Records] = {}  # replaced whole, so readers need no lock
        self._next_verify = 0.0
        self.wakeups = 0  # loop turns: a few per second at most when idle
        engine.subscribe(self.on_transitions)

    def on_transitions(self, transitions: list[Transition]) -> None:
        """Engine listener (a poll thread): only flag that the answers may have changed."""
        if any(t.kind != "check" for t in transitions) or not self._engine.ready.is_set():
            self._poke()

    def start(self) -> None:
        with self._cond:
            self._stopping = False
            self._resync = True
        self._thread = start_thread("dns-update", self._run)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def reconfigure(self, config: Config) -> None:
        """Take a new config and resync every managed hostname at once."""
        with self._cond:
            self._config = config
            self._resync = True
            self._cond.notify_all()

    def confirmed(self) -> dict[str, Records]:
        """What each hostname was last seen holding on the server, when that was the agreed answer."""
        return dict(self._confirmed)

    def _poke(self) -> None:
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        while True:
            with self._cond:
                self.wakeups += 1
                timeout = self._wait_time()
                # Without the section, or before the first round of polls, there is nothing
                # to push: wait even if a resync is pending, else this loop spins on the CPU.
                idle = self._config.dns.update is None or not self._engine.ready.is_set()
                if not self._stopping and (idle or not (self._wake or self._resync)) and timeout > 0:
                    self._cond.wait(timeout)
                if self._stopping:
                    return
                self._wake = False
                config, resync = self._config, self._resync
                update = config.dns.update
                if update is not None and self._engine.ready.is_set():
                    self._resync = False
            if update is None:
                self._retries.clear()
                self._last_wanted, self._confirmed = {}, {}
                continue
            if not self._engine.ready.is_set():
                continue  # never push half-polled answers
            try:
                self._round(config, update, resync)
            except Exception:  # one bad round must not end the thread
                logger.exception("DNS update round failed unexpectedly")

    def _wait_time(self) -> float:
        update = self._config.dns.update
        if update is None or not self._engine.ready.is_set():
            return IDLE_WAIT
        dues = [retry.due for retry in self._retries.values()] + [self._next_verify]
        return max(0.0, min(dues) - self._clock())

    def _round(self, config: Config, update: DnsUpdate, resync: bool) -> None:
        client = self._client_of(config, update)
        wanted = wanted_records(config, update, self._engine.table)
        now = self._clock()
        due: set[str] = set(changed_names(self._last_wanted, wanted))
        if resync:
            self._retries = {name: r for name, r in self._retries.items() if name in wanted}
            self._confirmed = {name: r for name, r in self._confirmed.items() if name in wanted}
        if resync or now >= self._next_verify:
            due.update(wanted)
            self._next_verify = now + (update.verify_interval or config.schedule.interval)
        due.update(name for name, retry in self._retries.items() if retry.due <= now)
        self._last_wanted = wanted
        for name in wanted:  # config order, so logs and mails read in a stable order
            if name in due and not self._stopping:
                self._sync(client, update, name, wanted[name])

    def _client_of(self, config: Config, update: DnsUpdate) -> UpdateClient:
        zone = update_zone(config, update)
        if self._client is None or self._client_for != (update, zone):
            self._client = UpdateClient(update, zone)
            self._client_for = (update, zone)
        return self._client

    def _sync(self, client: UpdateClient, update: DnsUpdate, fqdn: str, wanted: Records) -> None:
        try:
            sent = self._push(client, fqdn, wanted)
        except UpdateError as exc:
            self._failed(client, update, fqdn, str(exc))
            return
        self._metrics.dns_update_in_sync.labels(fqdn).set(1)
        self._confirmed = {**self._confirmed, fqdn: wanted}
        retry = self._retries.pop(fqdn, None)
        if retry is not None:
            logger.info("DNS update of %s on %s works again: %s", fqdn, client.where, wanted.describe())
            if retry.alerted:
                self._engine.add_event(
                    Transition(
                        DNS_UPDATE,
                        time.time(),
                        "failed",
                        "OK",
                        f"{client.where}: holds {wanted.describe()}",
                        hostname=fqdn,
                    )
                )
        elif sent:
            logger.info("%s on %s now holds %s", fqdn, client.where, wanted.describe())

    def _push(self, client: UpdateClient, fqdn: str, wanted: Records) -> bool:
        """Make the server hold `wanted`; return whether an UPDATE was sent."""
        for _ in range(CONFLICT_ROUNDS):
            held = client.read(fqdn)
            change = plan_change(fqdn, wanted, held)
            if change is None:
                return False  # already right: several instances must not rewrite it in turn
            try:
                client.send(change)
            except PrerequisiteFailed:
                logger.debug("%s changed on %s while updating it; reading again", fqdn, client.where)
                continue
            self._metrics.dns_updates_sent.labels(fqdn).inc()
            now_held = client.read(fqdn)
            if not wanted.same_as(now_held):
                raise UpdateError(
                    f"{client.where}: accepted the update of {fqdn} but answers "
                    f"{now_held.describe()} (wanted {wanted.describe()})"
                )
            logger.debug("%s on %s: %s -> %s", fqdn, client.where, held.describe(), wanted.describe())
            return True
        raise UpdateError(
            f"{client.where}: {fqdn} kept changing while being updated (another writer with another answer?)"
        )

    def _failed(self, client: UpdateClient, update: DnsUpdate, fqdn: str, error: str) -> None:
        self._metrics.dns_update_failures.labels(fqdn).inc()
        self._metrics.dns_update_in_sync.labels(fqdn).set(0)
        self._confirmed = {name: r for name, r in self._confirmed.items() if name != fqdn}
        retry = self._retries.get(fqdn) or _Retry(0, 0.0, "")
        retry.failures += 1
        wait = backoff(retry.failures, update.retry_delay, update.retry_max_delay)
        retry.due = self._clock() + wait
        self._retries[fqdn] = retry
        # A dead server fails the same way every time: say it once, and again when it changes.
        level = logging.WARNING if error != retry.error else logging.DEBUG
        retry.error = error
        logger.log(
            level,
            "DNS update of %s failed (attempt %d, next in %.1f s): %s",
            fqdn,
            retry.failures,
            wait,
            error,
        )
        if retry.failures >= update.alert_after and not retry.alerted:
            retry.alerted = True
            self._alert(fqdn, client.where, error.removeprefix(f"{client.where}: "))

    def _alert(self, fqdn: str, where: str, error: str) -> None:
        if self._on_failure is None:
            event = Transition(DNS_UPDATE, time.time(), "", "failed", f"{where}: {error}", hostname=fqdn)
            self._engine.add_event(event)
            return
        try:
            self._on_failure(fqdn, where, error)  # the notifier records the event and mails it
        except Exception:
            logger.exception("DNS update failure listener failed")
