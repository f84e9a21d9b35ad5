"""The engine: results in, health board updated under a lock, transitions out to listeners."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .datalag import DataFact
from .peers.consensus import (
    Agreement,
    AgreementState,
    PeerView,
    Verdict,
    answers_digest,
    basis_kind,
    basis_text,
    explain,
    keepable,
    shared_serial,
)
from .peers.settings import peers_of, self_id
from .pollers.result import PollResult
from .state import Answer, AnswerTable, CheckKey, CheckState, HealthBoard, Status, Transition

logger = logging.getLogger(__name__)

Listener = Callable[[list[Transition]], None]
EventListener = Callable[[Transition], None]
Recheck = Callable[[str, str, str], object]  # (node id, polling id, reason)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent copy of everything the dashboard and the API show."""

    config: Config
    table: AnswerTable
    checks: dict[CheckKey, CheckState]
    events: list[Transition]
    agreement: AgreementState | None = None  # None when this instance decides alone
    maintenance: frozenset[str] = frozenset()  # node ids in maintenance (SF-11)
    control: tuple[dict[str, Any], ...] = ()  # maintenance windows and pins in force or to come
    data: Mapping[str, DataFact] = field(default_factory=dict)  # node id -> clustersync data (max_data_lag)


@dataclass(frozen=True, slots=True)
class OwnView:
    """What this instance tells its peers."""

    statuses: dict[CheckKey, Status]
    ready: bool
    isolated: bool
    digest: str
    serial: int


class Engine:
    """Owns the health board; the one place results are folded in.

    The answer table is replaced, never mutated, so readers (the DNS responder) take
    `engine.table` without a lock and always see a whole table.

    With peers configured (SPEC SF-5) the answers follow the statuses agreed with the
    other instances: own results and received views both lead to `_agree_locked`.
    """

    def __init__(self, config: Config, event_history: int = 500) -> None:
        self._lock = threading.Lock()
        self._board = HealthBoard(config, serial_rule=self._serial_rule)
        self._listeners: list[Listener] = []
        self._event_listeners: list[EventListener] = []
        self._rechecks: list[Recheck] = []
        self._events: deque[Transition] = deque(maxlen=event_history)
        self._agreement: Agreement | None = None
        self._verdict: Verdict | None = None  # the last decision, made at _verdict_at
        self._verdict_at = 0.0
        self._basis = "alone"
        self._why: dict[CheckKey, str] = {}  # of each agreed status, from the verdict decided on
        self._agreed: dict[str, Answer] = {}  # the answers at the last decision with quorum
        self._agreed_at = 0.0
        self._agreed_once = False
        self._faults: frozenset[str] = frozenset()
        self._control: tuple[dict[str, Any], ...] = ()
        self._setup_agreement(config, time.time())
        if self._agreement is not None:
            self._board.reconfigure(config, time.time())
        self.ready = threading.Event()
        self.table: AnswerTable = self._board.table

    @property
    def config(self) -> Config:
        return self._board.config

    def subscribe(self, listener: Listener) -> None:
        """Call listener with each batch of transitions (from a poll thread: keep it quick)."""
        self._listeners.append(listener)

    def watch_events(self, listener: EventListener) -> None:
        """Call listener with each event given to `add_event` (mails, reloads...): keep it quick."""
        self._event_listeners.append(listener)

    def on_peer_flip(self, recheck: Recheck) -> None:
        """Call recheck(node, polling, reason) when a peer's view flips a check to a status ours lacks."""
        self._rechecks.append(recheck)

    def record(self, node_id: str, polling_id: str, result: PollResult) -> list[Transition]:
        """Fold one poll result in and publish what changed."""
        if node_id in self._faults:  # peers.test_fault_nodes: a broken link, for tests only
            result = PollResult(False, result.latency, "test fault (peers.test_fault_nodes)", result.at)
        with self._lock:
            transitions = self._board.observe(node_id, polling_id, result)
            if transitions and self._agreement is not None:
                transitions += self._agree_locked(result.at)
            self._publish_locked(transitions)
        self._notify(transitions)
        return transitions

    def reconfigure(self, config: Config) -> list[Transition]:
        """Switch to a new config, keeping what is known about checks that remain."""
        now = time.time()
        with self._lock:
            self._setup_agreement(config, now)
            transitions = self._board.reconfigure(config, now)
            if self._agreement is not None:
                transitions += self._agree_locked(now)
            self._publish_locked(transitions)
        self._notify(transitions)
        return transitions

    # ------------------------------------------------------------ agreement (SF-5)

    def receive_view(self, view: PeerView) -> bool:
        """Fold in a peer's authenticated view; True when that peer had not been heard recently."""
        if self._agreement is None:
            return False
        with self._lock:
            before = self._agreement.views.get(view.member)
            new = self._agreement.receive(view)
            transitions = self._agree_locked(view.received_at)
            self._publish_locked(transitions)
            flipped = peer_flips(before.statuses if before else None, view.statuses, self._board.checks)
        self._notify(transitions)
        for key in flipped:
            why = f"peer {view.member} sees it {view.statuses[key].value}"
            for recheck in self._rechecks:
                recheck(*key, why)
        return new

    def tick(self, now: float) -> list[Transition]:
        """Re-decide with the passage of time: peers fall silent, isolation starts or ends."""
        if self._agreement is None:
            return []
        with self._lock:
            transitions = self._agree_locked(now)
            self._publish_locked(transitions)
        self._notify(transitions)
        return transitions

    def own_view(self) -> OwnView:
        """This instance's own check statuses and served answers, as sent to peers."""
        with self._lock:
            table = self._board.table
            return OwnView(
                {key: state.status for key, state in self._board.checks.items()},
                self._board.own_ready,
                bool(self._verdict and self._verdict.isolated),
                answers_digest(table.answers) if table.ready else "",
                table.serial,
            )

    def should_notify(self, now: float | None = None) -> bool:
        """Whether this instance sends cluster-wide notifications (always, when alone)."""
        agreement = self._agreement
        if agreement is None:
            return True
        with self._lock:
            at = time.time() if now is None else now
            return agreement.sender(self._board.own_ready, at, self._down_nodes_locked()) == agreement.me

    def _down_nodes_locked(self) -> frozenset[str]:
        """Nodes every agreed check of which is KO (a member id names its node: see docs/agreement.md)."""
        seen: dict[str, bool] = {}
        for (node_id, _), status in self._board.agreed.items():
            seen[node_id] = seen.get(node_id, True) and status is Status.KO
        return frozenset(node_id for node_id, down in seen.items() if down)

    def agreement_state(self, now: float | None = None) -> AgreementState | None:
        """Where the agreement stood at the last decision; None when this instance decides alone."""
        with self._lock:
            return self._agreement_state_locked(time.time() if now is None else now)

    def _agreement_state_locked(self, now: float) -> AgreementState | None:
        agreement = self._agreement
        if agreement is None:
            return None
        why = self._why
        if self._verdict is not None:  # what the served table was decided from
            verdict, now = self._verdict, self._verdict_at
        else:
            own = {key: state.status for key, state in self._board.checks.items()}
            verdict = agreement.verdict(own, self._board.own_ready, list(self._board.checks), now)
            why = {key: explain(verdict, key) for key in verdict.statuses}
        return AgreementState(
            agreement.me,
            agreement.members,
            verdict,
            self._basis,
            agreement.sender(self._board.own_ready, now, self._down_nodes_locked()),
            tuple(view for _, view in sorted(agreement.views.items())),
            agreement.stale_after,
            now,
            why,
        )

    def _setup_agreement(self, config: Config, now: float) -> None:
        peers = peers_of(config)
        self._faults = frozenset(config.peers.test_fault_nodes) if config.peers else frozenset()
        if peers is None:
            self._agreement = None
            self._verdict = None
            self._board.shared = False
            return
        members = tuple(m.id for m in peers.members)
        witness = next((m.id for m in peers.members if m.role == "witness"), None)
        old = self._agreement
        if old is None:
            self._agreement = Agreement(self_id(config), members, peers.stale_after, now, witness=witness)
            # Start from own statuses, so switching on agreement does not blank the answers.
            self._board.agreed = {key: state.status for key, state in self._board.checks.items()}
        else:
            old.me, old.members, old.stale_after = self_id(config), members, peers.stale_after
            old.witness = witness
            old.views = {m: v for m, v in old.views.items() if m in members}
        self._board.shared = True

    def _serial_rule(self, current: int, answers: Mapping[str, Answer], now: float) -> int:
        agreement = self._agreement
        if agreement is None:
            return shared_serial(current, "", True, (), 0, now)
        return shared_serial(
            current, answers_digest(answers), True, agreement.peer_serials(now), agreement.max_seen, now
        )

    def _agree_locked(self, now: float) -> list[Transition]:
        agreement = self._agreement
        assert agreement is not None
        board = self._board
        config = board.config
        own = {key: state.status for key, state in board.checks.items()}
        verdict = agreement.verdict(own, board.own_ready, list(board.checks), now)
        was_isolated = self._verdict.isolated if self._verdict else False
        out: list[Transition] = []
        if verdict.isolated != was_isolated:
            out.append(self._isolation_transition(verdict, now))
        if not verdict.quorum and not self._agreed_once and agreement.starting(now):
            # Just started: answer nothing until a majority is heard or the grace ends.
            self._basis = "waiting"
            self._verdict, self._verdict_at = verdict, now
            return out
        keeping = config.peers is None or config.peers.isolation == "keep_last"
        polling_of = {config.fqdn(h): h.polling for h in config.hostnames}
        keep = keepable(self._agreed, polling_of, verdict) if keeping else {}
        kept_from = ""
        if self._agreed_once:
            kept_from = f" ({time.strftime('%H:%M:%S UTC', time.gmtime(self._agreed_at))})"
        basis = {}
        for fqdn, polling in polling_of.items():
            kind = basis_kind(verdict, polling, fqdn in keep)
            basis[fqdn] = (kind, basis_text(kind, verdict, kept_from))
        kinds = {kind for kind, _ in basis.values()}
        self._basis = "kept" if "kept" in kinds else basis_kind(verdict, "", False)
        if "witness" in kinds:
            self._basis = "witness"
        self._why = {key: explain(verdict, key) for key in verdict.statuses}
        self._verdict, self._verdict_at = verdict, now
        out += board.decide(verdict.statuses, now, self._why, keep, basis)
        if verdict.quorum:
            self._agreed_once = True
            self._agreed, self._agreed_at = dict(board.table.answers), now
        if board.table.ready:
            digest = answers_digest(board.table.answers)
            serial = shared_serial(
                board.table.serial, digest, False, agreement.peer_serials(now), agreement.max_seen, now
            )
            board.adopt_serial(serial)
        return out

    def _isolation_transition(self, verdict: Verdict, now: float) -> Transition:
        agreement = self._agreement
        assert agreement is not None
        names = ", ".join(verdict.heard)
        heard = f"hears {len(verdict.heard)} of {len(agreement.members)} instances ({names})"
        if not verdict.isolated:
            return Transition("isolated", now, "yes", "no", f"{heard}: agreeing again")
        keeping = self.config.peers is None or self.config.peers.isolation == "keep_last"
        then = (
            "keeping the last agreed answers while their nodes are seen OK,"
            " else answering from the checks heard"
            if keeping
            else "answering from the checks heard"
        )
        return Transition("isolated", now, "no", "yes", f"{heard}: {then}")

    def unheard_went_down(self, now: float | None = None) -> bool:
        """Whether every member not heard is a node agreed down: it went down with its host.

        A survivor of a two-node cluster is not "isolated" in any way worth a mail of its own:
        the failure mail already tells the story.
        """
        agreement = self._agreement
        if agreement is None:
            return False
        with self._lock:
            at = time.time() if now is None else now
            heard = {agreement.me, *(v.member for v in agreement.fresh(at))}
            unheard = [m for m in agreement.members if m not in heard]
            down = self._down_nodes_locked()
            return bool(unheard) and all(m in down for m in unheard)

    def override(
        self,
        maintenance: frozenset[str],
        pins: Mapping[str, tuple[str, str]],
        now: float,
        listing: tuple[dict[str, Any], ...] = (),
    ) -> None:
        """Apply maintenance and pins (SF-11, simplefailover.control): answers change at once.

        `listing` is what the dashboard shows of them (who, why, until).
        """
        with self._lock:
            self._control = listing
            transitions = self._board.override(maintenance, pins, now)
            self._publish_locked(transitions)
        self._notify(transitions)

    def set_data(self, facts: Mapping[str, DataFact], now: float) -> None:
        """Each node's clustersync data freshness (simplefailover.datawatch): answers change at once."""
        with self._lock:
            transitions = self._board.set_data(facts, now)
            self._publish_locked(transitions)
        self._notify(transitions)

    def statuses(self) -> dict[str, dict[str, Status]]:
        """Each polling's node statuses as answers are chosen from them (agreed, with peers)."""
        with self._lock:
            return {p.id: self._board.status_by_node(p.id) for p in self._board.config.pollings}

    def check_state(self, node_id: str, polling_id: str) -> CheckState | None:
        """The current state of one check."""
        return self._board.checks.get((node_id, polling_id))

    def add_event(self, event: Transition) -> None:
        """Record an event from elsewhere (mail sent or failed, reload) for the dashboard."""
        with self._lock:
            self._events.append(event)
        for listener in list(self._event_listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("event listener %r failed", listener)

    def snapshot(self) -> Snapshot:
        """A consistent copy for display."""
        with self._lock:
            return Snapshot(
                self._board.config,
                self.table,
                dict(self._board.checks),
                list(self._events),
                self._agreement_state_locked(time.time()),
                self._board.maintenance,
                self._control,
                dict(self._board.data),
            )

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


def peer_flips(
    before: Mapping[CheckKey, Status] | None,
    after: Mapping[CheckKey, Status],
    own: Mapping[CheckKey, CheckState],
) -> list[CheckKey]:
    """Checks a peer's new view changed to OK or KO, where this instance's status differs."""
    if before is None:
        return []  # a peer's first view is no news
    out = []
    for key, status in after.items():
        mine = own.get(key)
        if status is Status.UNKNOWN or before.get(key) in (None, status) or mine is None:
            continue
        if mine.status is not status:
            out.append(key)
    return out


def _log(t: Transition) -> None:
    if t.kind == "check":
        level = logging.WARNING if t.new == "KO" else logging.INFO
        logger.log(level, "%s/%s %s -> %s: %s", t.node_id, t.polling_id, t.old, t.new, t.reason)
    elif t.kind == "observed":
        logger.info("%s/%s %s -> %s by own checks: %s", t.node_id, t.polling_id, t.old, t.new, t.reason)
    elif t.kind == "isolated":
        level = logging.WARNING if t.new == "yes" else logging.INFO
        logger.log(level, "isolated: %s -> %s: %s", t.old, t.new, t.reason)
    elif t.kind == "answer":
        logger.info("%s now answers %s (was %s): %s", t.hostname, t.new, t.old, t.reason)
    elif t.kind == "all_down":
        logger.warning("%s: all nodes down: %s", t.hostname, t.reason)
    else:
        logger.info("%s: %s -> %s: %s", t.hostname or t.kind, t.old, t.new, t.reason)
