"""Run every (polling, node) check on its own interval with APScheduler, never overlapping.

Besides the interval, a check runs at once when asked (`check_now`): the connection
watcher saw its port close, or a peer's view flipped it. The `fall` confirmations of such
a check follow `schedule.confirm_interval` apart instead of `retry_interval`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, Node, Schedule
from .pollers import Poller, poller_for
from .pollers.result import PollResult
from .state import CheckState, Status
from .watcher import ConnectionWatcher, targets, watch_address

logger = logging.getLogger(__name__)

# "skipped: maximum number of running instances reached" is how a hanging check shows
# up; the check's own timeout is the answer to it, so keep it out of the log.
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
logging.getLogger("apscheduler.executors.default").setLevel(logging.ERROR)

Record = Callable[[str, str, PollResult], object]
StateOf = Callable[[str, str], CheckState | None]
MAX_WORKERS = 256


def wants_retry(state: CheckState | None) -> bool:
    """Check at retry_interval while failing or not yet settled."""
    if state is None or state.status is Status.UNKNOWN:
        return True
    return state.status is Status.KO or state.failures > 0


def confirming(state: CheckState | None) -> bool:
    """Whether a check is still OK but has failed lately: `fall` is being confirmed."""
    return state is not None and state.status is Status.OK and state.failures > 0


def next_interval(schedule: Schedule, state: CheckState | None, event: bool, latency: float) -> float:
    """Seconds until a check runs again, given the state its last result left.

    Confirming a failure (still OK, fewer than `fall` failures): `confirm_interval` when an
    event found it; when a poll found it, `retry_interval` counted from the start of the
    failed check, so a check that timed out is confirmed soon after it (never sooner than
    `confirm_interval`). Failing or not settled: `retry_interval`. Steadily OK: `interval`.
    """
    if confirming(state):
        if event:
            return schedule.confirm_interval
        return max(schedule.confirm_interval, schedule.retry_interval - latency)
    return schedule.retry_interval if wants_retry(state) else schedule.interval


def watch_timeout(config: Config) -> float:
    """How long the watcher waits for a connect: the longest polling timeout."""
    return max((float(getattr(p, "timeout", 5.0)) for p in config.pollings), default=5.0)


class PollScheduler:
    """Schedules checks; results go to `record`, the state decides the next interval."""

    def __init__(self, config: Config, record: Record, state_of: StateOf) -> None:
        self._record = record
        self._state_of = state_of
        self._config = config
        self._pollers: dict[str, Poller] = {}
        self._intervals: dict[str, float] = {}
        self._lock = threading.Lock()
        self._running: set[str] = set()  # job ids whose check is in flight
        self._asked: set[str] = set()  # job ids asked to run at once (check_now)
        self._events: set[str] = set()  # job ids confirming a failure an event found
        # Two instances so a check asked for while one runs is not skipped: the second
        # returns at once and the first runs again when it ends (never two checks at once).
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(self._workers(config))},
            job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None},
            timezone="UTC",
        )
        self.watcher: ConnectionWatcher | None = None

    @staticmethod
    def _workers(config: Config) -> int:
        return max(8, min(MAX_WORKERS, len(config.nodes) * len(config.pollings)))

    def start(self) -> None:
        """Start polling: every check runs once soon, spread over the first second."""
        self._install(self._config)
        self._scheduler.start()
        self._follow_watch(self._config)

    def stop(self) -> None:
        """Stop scheduling; running checks finish on their own timeouts."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def reconfigure(self, config: Config) -> None:
        """Replace every job with the new config's checks."""
        self._config = config
        for job in self._scheduler.get_jobs():
            job.remove()
        self._intervals.clear()
        self._install(config)
        with self._lock:  # forget asks and confirmations of checks the new config dropped
            kept = {job.id for job in self._scheduler.get_jobs()}
            self._asked &= kept
            self._events &= kept
        self._follow_watch(config)

    def check_now(self, node_id: str, polling_id: str, reason: str = "") -> None:
        """Run this check at once (never alongside itself); its confirmations follow confirm_interval."""
        job_id = f"{polling_id}@{node_id}"
        with self._lock:
            self._asked.add(job_id)
            running = job_id in self._running
        if not running:  # else the running check goes again as soon as it ends
            self._run_soon(job_id)

    def _run_soon(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):  # removed by a reload meanwhile
            self._scheduler.modify_job(job_id, next_run_time=datetime.now().astimezone())

    @staticmethod
    def _poll(poller: Poller, node: Node, polling_id: str) -> PollResult:
        try:
            return poller.check(node)
        except Exception as exc:  # a poller bug is a failed check, not a dead job
            logger.exception("poller %s crashed on %s", polling_id, node.id)
            return PollResult(False, 0.0, f"internal error: {exc}", time.time())

    def _vet(self, polling_id: str, node: Node, poller: Poller, result: PollResult) -> PollResult:
        """Make sure the watcher's idle connection did not cause this result.

        A server serving one connection at a time waits on that idle connection. The first
        time a check of a watched port times out before any check succeeded beside the
        connection, the watcher lets go of it and the check runs again: that second result
        counts, and if it is OK the port is no longer watched (logged).
        """
        watcher = self.watcher
        if watcher is None:
            return result
        try:
            polling = self._config.polling(polling_id)
        except KeyError:  # removed by a reload while it ran
            return result
        address = watch_address(polling, node)
        if address is None:
            return result
        if result.ok:
            watcher.trust(address)  # served beside an idle connection (if one was held)
            return result
        timeout = float(getattr(polling, "timeout", 0) or 0)
        if not timeout or result.latency < 0.9 * timeout or not watcher.on_trial(address):
            return result
        if not watcher.release(address):
            return result
        again = self._poll(poller, node, polling_id)
        watcher.verdict(address, again.ok)
        return again

    def _follow_watch(self, config: Config) -> None:
        schedule = config.schedule
        if not schedule.watch:
            if self.watcher is not None:
                self.watcher.stop()
                self.watcher = None
            return
        timing = {
            "confirm_interval": schedule.confirm_interval,
            "retry_interval": schedule.retry_interval,
            "timeout": watch_timeout(config),
        }
        if self.watcher is None:
            self.watcher = ConnectionWatcher(self.check_now, **timing)
            self.watcher.start()
        self.watcher.watch(targets(config), **timing)

    def _install(self, config: Config) -> None:
        self._pollers = {p.id: poller_for(p) for p in config.pollings}
        now = datetime.now().astimezone()
        for polling in config.pollings:
            for node in config.nodes:
                job_id = f"{polling.id}@{node.id}"
                first = now + timedelta(seconds=random.uniform(0, 1.0))
                interval = config.schedule.retry_interval  # until the first result settles it
                self._intervals[job_id] = interval
                self._scheduler.add_job(
                    self._run,
                    self._trigger(interval),
                    args=(job_id, polling.id, node),
                    id=job_id,
                    next_run_time=first,
                    replace_existing=True,
                )

    def _trigger(self, interval: float) -> IntervalTrigger:
        jitter = self._config.schedule.jitter * interval
        return IntervalTrigger(seconds=interval, jitter=jitter or None, timezone="UTC")

    def _run(self, job_id: str, polling_id: str, node: Node) -> None:
        poller = self._pollers.get(polling_id)
        if poller is None:
            return
        with self._lock:
            if job_id in self._running:
                return  # asked for while running: that run goes again when it ends
            self._running.add(job_id)
            if job_id in self._asked:
                self._asked.discard(job_id)
                self._events.add(job_id)
        try:
            self._check(job_id, polling_id, node, poller)
        finally:
            with self._lock:
                self._running.discard(job_id)
                again = job_id in self._asked
        if again:
            self._run_soon(job_id)

    def _check(self, job_id: str, polling_id: str, node: Node, poller: Poller) -> None:
        result = self._vet(polling_id, node, poller, self._poll(poller, node, polling_id))
        logger.debug("%s %s %.1f ms %s", job_id, result.status, result.latency * 1e3, result.error)
        self._record(node.id, polling_id, result)
        schedule = self._config.schedule
        state = self._state_of(node.id, polling_id)
        with self._lock:
            if job_id in self._events and not confirming(state):
                self._events.discard(job_id)  # settled: KO, or the alarm was false
            event = job_id in self._events
        wanted = next_interval(schedule, state, event, result.latency)
        if self._intervals.get(job_id) != wanted:
            self._intervals[job_id] = wanted
            with contextlib.suppress(JobLookupError):  # removed by a reload meanwhile
                self._scheduler.reschedule_job(job_id, trigger=self._trigger(wanted))
