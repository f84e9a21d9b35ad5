"""Run every (polling, node) check on its own interval with APScheduler, never overlapping."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, Node
from .pollers import Poller, poller_for
from .pollers.result import PollResult
from .state import CheckState, Status

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


class PollScheduler:
    """Schedules checks; results go to `record`, the state decides the next interval."""

    def __init__(self, config: Config, record: Record, state_of: StateOf) -> None:
        self._record = record
        self._state_of = state_of
        self._config = config
        self._pollers: dict[str, Poller] = {}
        self._intervals: dict[str, float] = {}
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(self._workers(config))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )

    @staticmethod
    def _workers(config: Config) -> int:
        return max(8, min(MAX_WORKERS, len(config.nodes) * len(config.pollings)))

    def start(self) -> None:
        """Start polling: every check runs once soon, spread over the first second."""
        self._install(self._config)
        self._scheduler.start()

    def stop(self) -> None:
        """Stop scheduling; running checks finish on their own timeouts."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def reconfigure(self, config: Config) -> None:
        """Replace every job with the new config's checks."""
        self._config = config
        for job in self._scheduler.get_jobs():
            job.remove()
        self._intervals.clear()
        self._install(config)

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
        try:
            result = poller.check(node)
        except Exception as exc:  # a poller bug is a failed check, not a dead job
            logger.exception("poller %s crashed on %s", polling_id, node.id)
            result = PollResult(False, 0.0, f"internal error: {exc}", time.time())
        logger.debug("%s %s %.1f ms %s", job_id, result.status, result.latency * 1e3, result.error)
        self._record(node.id, polling_id, result)
        schedule = self._config.schedule
        state = self._state_of(node.id, polling_id)
        wanted = schedule.retry_interval if wants_retry(state) else schedule.interval
        if self._intervals.get(job_id) != wanted:
            self._intervals[job_id] = wanted
            with contextlib.suppress(JobLookupError):  # removed by a reload meanwhile
                self._scheduler.reschedule_job(job_id, trigger=self._trigger(wanted))
