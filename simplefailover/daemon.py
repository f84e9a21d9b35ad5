"""`simplefailover run`: wire the parts together, handle signals, reload on SIGHUP."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from habase import sdnotify
from habase.config_watch import ConfigWatch
from habase.service import ServiceGroup

from .config import Config, load_config
from .control.service import ControlService
from .control.store import control_path
from .dashboard.server import DashboardService
from .datawatch import DataWatch
from .dns.service import DnsService
from .dns.update import DnsUpdater
from .engine import Engine, Listener
from .errors import ConfigError
from .history import HistoryService, history_path
from .metrics import Metrics
from .notify import AlertService
from .ops.pidfile import PidFile, pid_file_of, reload_status_file, write_reload_status
from .peers.service import PeerService
from .pollers.result import PollResult
from .scheduler import PollScheduler
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
    config: Config,
    engine: Engine,
    metrics: Metrics,
    history: HistoryService | None = None,
    control_file: Path | None = None,
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
    mail: Listener = alerts.on_transitions
    control = None
    if control_file is not None:  # SF-11: maintenance and pins, shared with the peers
        control = ControlService(
            config, engine, control_file, alerts.notifier, history, peers.should_notify, metrics.registry
        )
        peers.control, control.on_change = control, peers.send_now
        mail = control.quiet(mail)  # nodes in maintenance: their failures are not mailed
    engine.subscribe(peers.only_if_sender(mail))  # one instance mails per event
    alerts.is_sender = peers.should_notify
    group.add(alerts)
    if control is not None:
        group.add(control)
    group.add(peers)
    group.add(DnsService(config, engine, metrics))
    # RFC 2136 pushes (dns.update): its own thread; idle while the section is absent
    group.add(DnsUpdater(config, engine, metrics, on_failure=alerts.dns_update_failed))
    group.add(DashboardService(config, engine, metrics, history, control=control))
    group.add(DataWatch(config, engine))  # max_data_lag (SF-12): idle without it
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
        self.control_file = control_path(config, self.config_path)
        self.services = build_services(config, self.engine, self.metrics, self.history, self.control_file)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._reloads = 0  # reloads done, in the reload status file
        self._status_file: Path | None = None  # written by run_forever's service, read by `reload`

    def start(self) -> None:
        self.services.start()

    def stop(self) -> None:
        self._stop.set()
        self.services.stop()

    def reload(self) -> bool:
        """Re-read the config and apply it; on any failure keep the running one and say why.

        Never raises (except on a fatal error such as KeyboardInterrupt): the outcome is logged,
        shown on the dashboard as a `reload` event and written to the reload status file that
        `simplefailover reload` waits for.
        """
        try:
            ok, detail = self._apply_config_file()
        except Exception as exc:  # whatever the cause, the running config stays in force
            logger.exception("reload of %s failed; keeping the running config", self.config_path)
            ok, detail = False, f"{self.config_path}: {type(exc).__name__}: {exc}; kept the running config"
            self._add_reload_event("failed", detail)
        self._reloads += 1
        if self._status_file is not None:
            write_reload_status(self._status_file, self._reloads, ok, detail)
        return ok

    def _apply_config_file(self) -> tuple[bool, str]:
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
            self._add_reload_event("rejected", summary)
            return False, summary
        old = self.engine.config
        # The engine first: the answer table changes in one atomic swap, so DNS answers
        # from the old table until the new one is complete, never from nothing.
        try:
            self.engine.reconfigure(config)
            self.metrics.follow_config(self.engine.snapshot().checks)
        except Exception:
            try:  # back to what was running; the caller reports the failure
                self.engine.reconfigure(old)
                self.metrics.follow_config(self.engine.snapshot().checks)
            except Exception:
                logger.exception("going back to the running config after a failed reload failed too")
            raise
        failed = self.services.reconfigure(config)  # each failure is logged; the others go on
        if failed:
            why = "; ".join(f"{name}: {self.services.reconfigure_errors.get(name, '?')}" for name in failed)
            detail = f"{self.config_path}; kept the old config: {why}"
            self._add_reload_event("partly applied", detail)
            logger.warning("reloaded %s, but %s kept the old config", self.config_path, ", ".join(failed))
            return False, detail
        restart = ""
        if pid_file_of(config, self.config_path) != pid_file_of(old, self.config_path):
            restart = "; needs a restart for service.pid_file"  # the file is where `reload` looks
            logger.warning("service.pid_file changed: it takes effect at the next start (restart it)")
        self._add_reload_event("applied", f"{self.config_path}{restart}")
        logger.info("reloaded %s", self.config_path)
        return True, f"{self.config_path}: applied{restart}"

    def _add_reload_event(self, outcome: str, detail: str) -> None:
        self.engine.add_event(Transition("reload", time.time(), "", outcome, detail))

    def _pid_path(self) -> Path:
        return pid_file_of(self.engine.config, self.config_path)

    def _cycle(self, watch: ConfigWatch, next_look: float) -> float:
        """Look at the config file when due, reload when asked; return when to look next."""
        every = self.engine.config.service.watch_config
        if every and time.monotonic() >= next_look:
            next_look = time.monotonic() + every
            if watch.changed():
                logger.info("%s changed on disk: reloading it", self.config_path)
                self._reload.set()
        if self._reload.is_set():
            self._reload.clear()
            watch.settle()  # this reload reads the file as it is now
            sdnotify.reloading()
            ok = self.reload()
            sdnotify.ready(f"serving; last reload {'applied' if ok else 'FAILED: the running config stays'}")
        return next_look

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
        pid_file = PidFile(self._pid_path())
        pid_file.write()
        self._status_file = status_file = reload_status_file(pid_file.path)
        sdnotify.ready(f"serving with {self.config_path}")
        watch = ConfigWatch(self.config_path)
        next_look = time.monotonic()
        try:
            while not self._stop.is_set():
                self._stop.wait(0.5)
                try:  # one cycle: nothing but a fatal error (KeyboardInterrupt, SystemExit) ends the loop
                    next_look = self._cycle(watch, next_look)
                except Exception:
                    logger.exception("service cycle failed; the service goes on")
        finally:
            sdnotify.stopping()
            self.services.stop()
            pid_file.remove()
            status_file.unlink(missing_ok=True)
