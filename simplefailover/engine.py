"""The engine: results in, health board updated under a lock, transitions out to listeners."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .config import Config
from .pollers.result import PollResult
from .state import AnswerTable, CheckKey, CheckState, HealthBoard, Transition

logger = logging.getLogger(__name__)

Listener = Callable[[list[Transition]], None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent copy of everything the dashboard and the API show."""

    config: Config
    table: AnswerTable
    checks: dict[CheckKey, CheckState]
    events: list[Transition]


class Engine:
    """Owns the health board; the one place results are folded in.

    The answer table is replaced, never mutated, so readers (the DNS responder) take
    `engine.table` without a lock and always see a whole table.
    """

    def __init__(self, config: Config, event_history: int = 500) -> None:
        self._lock = threading.Lock()
        self._board = HealthBoard(config)
        self._listeners: list[Listener] = []
        self._events: deque[Transition] = deque(maxlen=event_history)
        self.ready = threading.Event()
        self.table: AnswerTable = self._board.table

    @property
    def config(self) -> Config:
        return self._board.config

    def subscribe(self, listener: Listener) -> None:
        """Call listener with each batch of transitions (from a poll thread: keep it quick)."""
        self._listeners.append(listener)

    def record(self, node_id: str, polling_id: str, result: PollResult) -> list[Transition]:
        """Fold one poll result in and publish what changed."""
        with self._lock:
            transitions = self._board.observe(node_id, polling_id, result)
            self._publish_locked(transitions)
        self._notify(transitions)
        return transitions

    def reconfigure(self, config: Config) -> list[Transition]:
        """Switch to a new config, keeping what is known about checks that remain."""
        with self._lock:
            transitions = self._board.reconfigure(config, time.time())
            self._publish_locked(transitions)
        self._notify(transitions)
        return transitions

    def check_state(self, node_id: str, polling_id: str) -> CheckState | None:
        """The current state of one check."""
        return self._board.checks.get((node_id, polling_id))

    def add_event(self, event: Transition) -> None:
        """Record an event from elsewhere (mail sent or failed, reload) for the dashboard."""
        with self._lock:
            self._events.append(event)

    def snapshot(self) -> Snapshot:
        """A consistent copy for display."""
        with self._lock:
            return Snapshot(self._board.config, self.table, dict(self._board.checks), list(self._events))

    def _publish_locked(self, transitions: list[Transition]) -> None:
        self.table = self._board.table
        if self.table.ready and not self.ready.is_set():
            logger.info("first round of polls done; answering with serial %d", self.table.serial)
            self.ready.set()
        for transition in transitions:
            self._events.append(transition)
            _log(transition)

    def _notify(self, transitions: list[Transition]) -> None:
        if not transitions:
            return
        for listener in list(self._listeners):
            try:
                listener(transitions)
            except Exception:  # one broken listener must not stop polling
                logger.exception("transition listener %r failed", listener)


def _log(t: Transition) -> None:
    if t.kind == "check":
        level = logging.WARNING if t.new == "KO" else logging.INFO
        logger.log(level, "%s/%s %s -> %s: %s", t.node_id, t.polling_id, t.old, t.new, t.reason)
    elif t.kind == "answer":
        logger.info("%s now answers %s (was %s): %s", t.hostname, t.new, t.old, t.reason)
    elif t.kind == "all_down":
        logger.warning("%s: all nodes down: %s", t.hostname, t.reason)
    else:
        logger.info("%s: %s -> %s: %s", t.hostname or t.kind, t.old, t.new, t.reason)
