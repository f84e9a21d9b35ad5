"""`clustersync run` as a service: signals, the run cycle, and reload on SIGHUP or a saved file.

Modelled on Patroni's daemon: signal handlers only set flags; one loop runs a cycle at a
time and catches every error but the fatal ones (KeyboardInterrupt, SystemExit), so neither
a bad config file nor a bug in applying it ends the service. What a running member can take
without a restart (mail settings and recipients, intervals, timeouts, batch sizes, join
settings, history tables) is applied at once; what it cannot (its identity, ports, files,
replicated tables, strategy) is logged as needing a restart, and the rest is still applied.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from habase import collector, sdnotify
from habase.config_watch import ConfigWatch
from habase.errors import ConfigError

from ..config import Cluster, ClusterConfig, load_settings
from ..core.events import Event
from ..core.strategy import RunningMember
from ..ops import event_log
from ..strategies import strategy_for

logger = logging.getLogger(__name__)

# Cluster keys a running member only takes at its next start: who it is, where it listens,
# which files and tables it holds, and test settings fixed at start.
RESTART_KEYS = (
    "node_id", "address", "port", "data_port", "strategy", "database", "dsn", "secret_file",
    "state_dir", "max_message", "test_clock_offset", "test_version",
)  # fmt: skip
# Of the tables, the replicated ones need a restart (capture is installed at start, and every
# member must agree on them); the history ones (what a light backup leaves out) apply at once.


def plan_reload(old: Cluster, new: Cluster) -> tuple[Cluster, list[str]]:
    """The cluster section to run with after a reload, and the changed keys that need a restart.

    Pure: the result is the new section with every restart-only key kept as it runs now.
    """
    pending = [key for key in RESTART_KEYS if getattr(old, key) != getattr(new, key)]
    kept: dict[str, object] = {key: getattr(old, key) for key in pending}
    if old.tables.replicated != new.tables.replicated:
        pending.append("tables.replicated")
        kept["tables"] = new.tables.model_copy(update={"replicated": old.tables.replicated})
    return new.model_copy(update=kept), pending


def reload_member(member: RunningMember, config_path: Path) -> tuple[bool, str]:
    """Re-read the config and apply what can be applied; never raises but on fatal errors.

    Returns (applied, what happened); the outcome is logged and kept for the HA page.
    """
    try:
        ok, detail = _reload(member, config_path)
    except Exception as exc:  # whatever the cause, the running settings stay in force
        logger.exception("reload of %s failed; keeping the running config", config_path)
        ok, detail = False, f"{config_path}: {type(exc).__name__}: {exc}; kept the running config"
    subject = f"reload of {config_path.name} {'applied' if ok else 'FAILED'}"
    event_log.record(member.cluster.state_dir, Event("reload", subject, detail), time.time())
    return ok, detail


def _reload(member: RunningMember, config_path: Path) -> tuple[bool, str]:
    try:
        config = load_settings(config_path)
    except ConfigError as exc:
        logger.error(
            "reload of %s rejected (%d problem(s)); keeping the running config:",
            config_path,
            len(exc.problems),
        )
        for problem in exc.problems:
            logger.error("  %s", problem)
        return False, f"{config_path}: {len(exc.problems)} problem(s), first: {exc.problems[0]}"
    new = strategy_for(config).check(config)  # a section this member cannot run with is refused as a whole
    cluster, pending = plan_reload(member.cluster, new)
    member.apply(config.model_copy(update={"cluster": cluster}))
    if pending:
        keys = ", ".join(f"cluster.{key}" for key in pending)
        logger.warning("reloaded %s; these changes need a restart (clustersync service restart): %s",
                       config_path, keys)  # fmt: skip
        return True, f"{config_path}: applied; needs a restart for {keys}"
    logger.info("reloaded %s", config_path)
    return True, f"{config_path}: applied"


class Runner:
    """Run a member until SIGTERM or SIGINT; SIGHUP, or a saved change of the file, reloads it."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._watch = ConfigWatch(config_path)  # service.watch_config, as simplefailover run does
        self._next_look = time.monotonic()
        self._wake = threading.Event()
        self._stop = False
        self._hup = False

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        logger.info("signal %s: stopping", signal.Signals(signum).name)
        self._stop = True
        self._wake.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._hup = True
        self._wake.set()

    def run(self, make: Callable[[], RunningMember]) -> int:
        """Make the member (signals are already handled: a SIGHUP meanwhile reloads after), serve."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1: each thread's stack, stderr
        collector.tune()  # a service that applies many rows (habase/collector.py)
        member = make()
        member.start()
        sdnotify.ready(f"serving with {self.config_path}")
        try:
            while not self._stop:
                self._wake.wait(0.5)
                self._wake.clear()
                try:  # one cycle: nothing but a fatal error ends the loop
                    self._cycle(member)
                except Exception:
                    logger.exception("service cycle failed; the service goes on")
        finally:
            sdnotify.stopping()
            member.stop()
        logger.info("clustersync stopped (%s)", self.config_path)
        return 0

    def _cycle(self, member: RunningMember) -> None:
        every = member.config.service.watch_config
        if every and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + every
            if self._watch.changed():
                logger.info("%s changed on disk: reloading it", self.config_path)
                self._hup = True
        if self._hup and not self._stop:
            self._hup = False
            self._watch.settle()  # this reload reads the file as it is now
            logger.info("reloading %s", self.config_path)
            sdnotify.reloading()
            ok, detail = reload_member(member, self.config_path)
            sdnotify.ready(f"serving; last reload {'applied' if ok else 'FAILED'}: {detail}")


def run(config: ClusterConfig, config_path: Path) -> int:
    """`clustersync run`: the member for the configured strategy, as a service."""

    return Runner(config_path).run(lambda: strategy_for(config).member(config))
