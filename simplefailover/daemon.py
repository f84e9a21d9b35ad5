"""`simplefailover run`: wire the parts together, handle signals, reload on SIGHUP."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from .config import Config, load_config
from .config_watch import ConfigWatch
from .dashboard.server import DashboardService
from .dns.service import DnsService
from .dns.update import DnsUpdater
from .engine import Engine
from .errors import ConfigError
from .history import HistoryService, history_path
from .metrics import Metrics
from .notify import AlertService
from .peers.service import PeerService
from .pidfile import PidFile, pid_file_of
from .pollers.result import PollResult
from .scheduler import PollScheduler
from .service import ServiceGroup
from .state import Transition

logger = logging.getLogger(__name__)


class PollerService:
    """The poll scheduler as a service."""

    name = "pollers"

    def __init__(
        self,
        config: Config,
        engine: Engine,
        metrics: Metrics,
        alerts: AlertService | None = None,
        history: HistoryService | None = None,
    ) -> None:
        def record(node_id: str, polling_id: str, result: PollResult) -> None:
            metrics.observe_result(node_id, polling_id, result)
            if history is not None:  # before the engine: a transition finds its result recorded
                history.observe_result(node_id, polling_id, result)
            engine.record(node_id, polling_id, result)
            if alerts is not None:  # TLS certificate expiry warnings
                alerts.observe_result(node_id, polling_id, result)

        self._scheduler = PollScheduler(config, record, engine.check_state)
        engine.on_peer_flip(self._scheduler.check_now)  # a peer saw a change: look at once

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        self._scheduler.stop()

    def reconfigure(self, config: Config) -> None:
        self._scheduler.reconfigure(config)


def build_services(
    config: Config, engine: Engine, metrics: Metrics, history: HistoryService | None = None
) -> ServiceGroup:
    """Every background part of the service, in start order.

    Answering parts (DNS, dashboard) start before the pollers, so the first
    results find them listening. The history (when given) starts first and stops last.
    """
    group = ServiceGroup()
    engine.subscribe(lambda transitions: metrics.observe_transitions(transitions, engine.table))
    if history is not None:  # SF-6: its own writer thread, never on the poll path
        engine.subscribe(history.on_transitions)
        engine.watch_events(history.on_event)
        group.add(history)
    alerts = AlertService(config, engine)  # mail: its own threads, never on the poll path
    peers = PeerService(config, engine, metrics, alerts.notifier)  # SF-5; idle without peers
    engine.subscribe(peers.only_if_sender(alerts.on_transitions))  # one instance mails per event
    alerts.is_sender = peers.should_notify
    group.add(alerts)
    group.add(peers)
    group.add(DnsService(config, engine, metrics))
    # RFC 2136 pushes (dns.update): its own thread; idle while the section is absent
    group.add(DnsUpdater(config, engine, metrics, on_failure=alerts.dns_update_failed))
    group.add(DashboardService(config, engine, metrics, history))
    group.add(PollerService(config, engine, metrics, alerts, history))
    return group


class Daemon:
    """The running service: one engine, its services, signal handling and reload."""

    def __init__(self, config_path: str | Path, config: Config | None = None) -> None:
        self.config_path = Path(config_path)
        config = config or load_config(self.config_path)
        self.engine = Engine(config)
        self.metrics = Metrics()
        self.history = (
            HistoryService(config, history_path(config, self.config_path), self.metrics.registry)
            if config.history.enabled
            else None
        )
        self.services = build_services(config, self.engine, self.metrics, self.history)
        self._stop = threading.Event()
        self._reload = threading.Event()

    def start(self) -> None:
        self.services.start()

    def stop(self) -> None:
        self._stop.set()
        self.services.stop()

    def reload(self) -> bool:
        """Re-read the config; keep the running one when the new one is invalid."""
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            logger.error(
                "reload of %s rejected (%d problem(s)); keeping the running config:",
                self.config_path,
                len(exc.problems),
            )
            for problem in exc.problems:
                logger.error("  %s", problem)
            summary = f"{self.config_path}: {len(exc.problems)} problem(s), first: {exc.problems[0]}"
            self.engine.add_event(Transition("reload", time.time(), "", "rejected", summary))
            return False
        # The engine first: the answer table changes in one atomic swap, so DNS answers
        # from the old table until the new one is complete, never from nothing.
        self.engine.reconfigure(config)
        self.metrics.follow_config(self.engine.snapshot().checks)
        failed = self.services.reconfigure(config)  # each failure is logged; the others go on
        detail = f"{self.config_path}" + (f"; kept the old config: {', '.join(failed)}" if failed else "")
        self.engine.add_event(Transition("reload", time.time(), "", "applied", detail))
        logger.info("reloaded %s", self.config_path)
        return True

    def run_forever(self) -> None:
        """Start, then serve until SIGTERM/SIGINT; SIGHUP reloads."""

        def on_stop(signum: int, frame: FrameType | None) -> None:
            logger.info("signal %s: stopping", signal.Signals(signum).name)
            self._stop.set()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self._reload.set()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)
        self.start()
        pid_file = PidFile(pid_file_of(self.engine.config, self.config_path))
        pid_file.write()
        watch = ConfigWatch(self.config_path)
        next_look = time.monotonic()
        try:
            while not self._stop.is_set():
                self._stop.wait(0.5)
                every = self.engine.config.service.watch_config
                if every and time.monotonic() >= next_look:
                    next_look = time.monotonic() + every
                    if watch.changed():
                        logger.info("%s changed on disk: reloading it", self.config_path)
                        self._reload.set()
                if self._reload.is_set():
                    self._reload.clear()
                    watch.settle()  # this reload reads the file as it is now
                    self.reload()
        finally:
            self.services.stop()
            pid_file.remove()
