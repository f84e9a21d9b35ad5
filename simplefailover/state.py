"""Pure decision logic: health state per check, answer choice per hostname, transitions.

Nothing here does I/O or reads the clock: time comes in with each result, so every
rule can be tested directly.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .config import Config, Hostname, Node
from .datalag import DataFact, usable
from .pollers.result import PollResult

CheckKey = tuple[str, str]  # (node id, polling id)


class Status(enum.Enum):
    UNKNOWN = "UNKNOWN"
    OK = "OK"
    KO = "KO"


@dataclass(frozen=True, slots=True)
class CheckState:
    """Where one (node, polling) pair stands, with its anti-flapping counters."""

    status: Status = Status.UNKNOWN
    successes: int = 0  # consecutive
    failures: int = 0  # consecutive
    since: float = 0.0
    last: PollResult | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """Something changed: a check's status, a hostname's answer or its all-down state."""

    kind: str  # "check" | "answer" | "all_down" | "recovered"
    at: float
    old: str
    new: str
    reason: str
    node_id: str = ""
    polling_id: str = ""
    hostname: str = ""  # fully qualified


def next_check_state(state: CheckState, result: PollResult, fall: int, rise: int) -> CheckState:
    """Fold one result into a check's state: fall failures make KO, rise successes make OK."""
    successes = state.successes + 1 if result.ok else 0
    failures = 0 if result.ok else state.failures + 1
    status = state.status
    if status is Status.UNKNOWN:
        # The first result decides at once: waiting for rise/fall at start-up only
        # delays the first answer.
        status = Status.OK if result.ok else Status.KO
    elif status is Status.OK and failures >= fall:
        status = Status.KO
    elif status is Status.KO and successes >= rise:
        status = Status.OK
    since = result.at if status is not state.status else state.since
    return CheckState(status, successes, failures, since, result)


@dataclass(frozen=True, slots=True)
class Answer:
    """What DNS says for one hostname, and why."""

    node_ids: tuple[str, ...]
    addresses: tuple[str, ...]
    all_down: bool
    reason: str
    basis: str = ""  # with peers: what the answer rests on (peers.consensus.BASIS_KINDS)
    weights: tuple[int, ...] = ()  # policy weighted: one per address; DNS serves one per query


# A hostname's answer kept as it was, or its basis: (kind, words) for the "why".
Basis = tuple[str, str]


def choose_answer(
    hostname: Hostname,
    nodes: Sequence[Node],
    status_of: Mapping[str, Status],
    previous: Answer | None,
) -> Answer:
    """Pick by the hostname's policy among the OK nodes (SF-12); apply when_all_down if none.

    priority: the highest-priority OK node (ties by config order); all_healthy: every OK
    node of the highest priority present; weighted: every OK node of weight > 0, with the
    weights (the DNS responder serves one per query).
    """
    ok = [node for node in nodes if status_of.get(node.id) is Status.OK]
    if hostname.policy == "weighted":
        ok = [node for node in ok if node.weight > 0]
    if ok:
        top = max(node.priority for node in ok)
        polling = hostname.polling
        if hostname.policy == "weighted":
            return Answer(
                tuple(n.id for n in ok),
                tuple(str(n.address) for n in ok),
                False,
                f"one per query, by weight ({', '.join(f'{n.id}: {n.weight}' for n in ok)}), among the"
                f" nodes whose {polling} is OK",
                weights=tuple(n.weight for n in ok),
            )
        if hostname.policy == "all_healthy":
            best = [n for n in ok if n.priority == top]
            return Answer(
                tuple(n.id for n in best),
                tuple(str(n.address) for n in best),
                False,
                f"every node of the highest priority whose {polling} is OK (all_healthy; rotated)",
            )
        first = next(n for n in ok if n.priority == top)  # config order, so the first of equal priority wins
        return Answer(
            (first.id,),
            (str(first.address),),
            False,
            f"{first.id} is the highest-priority node whose {polling} is OK",
        )
    # A node whose check has not reported yet (added by a reload) may still turn out
    # OK: "all down" is declared only once every node is known to be KO, and an
    # all-down hostname stays so until a node is OK.
    waiting = sum(status_of.get(node.id, Status.UNKNOWN) is Status.UNKNOWN for node in nodes)
    all_down = not waiting or (previous is not None and previous.all_down)
    prefix = f"no node is OK yet ({waiting} not checked yet)" if waiting else "no node is OK"
    policy = hostname.when_all_down
    if policy == "last" and previous is not None and previous.addresses:
        return Answer(
            previous.node_ids,
            previous.addresses,
            all_down,
            f"{prefix}: keeping the last answer (when_all_down: last)",
        )
    if policy == "none":
        return Answer((), (), all_down, f"{prefix}: answering no address (when_all_down: none)")
    ordered = sorted(nodes, key=lambda n: -n.priority)  # stable: ties keep config order
    note = " (when_all_down: last, but there is no earlier answer)" if policy == "last" else ""
    return Answer(
        tuple(n.id for n in ordered),
        tuple(str(n.address) for n in ordered),
        all_down,
        f"{prefix}: answering every node{note}",
    )


def _overridden(
    answer: Answer,
    fqdn: str,
    nodes: Sequence[Node],
    maintenance: frozenset[str],
    pins: Mapping[str, tuple[str, str]],
) -> Answer:
    """A pin replaces the answer; maintenance is named in its reason."""
    pin = pins.get(fqdn)
    if pin is not None:
        node = next((n for n in nodes if n.id == pin[0]), None)
        if node is not None:
            return Answer((node.id,), (str(node.address),), False, f"pinned to {node.id}: {pin[1]}")
    note = f" ({', '.join(sorted(maintenance))} in maintenance)"
    if maintenance and not answer.reason.endswith(note):
        return replace(answer, reason=answer.reason + note)
    return answer


@dataclass(frozen=True, slots=True)
class AnswerTable:
    """Every hostname's answer, with the SOA serial of this version of the table."""

    serial: int
    answers: Mapping[str, Answer]  # fully qualified name -> answer
    ready: bool  # False until every check has reported once


def next_serial(previous: int, now: float) -> int:
    """A serial that always increases and tracks the clock (seconds since the epoch)."""
    return max(previous + 1, int(now)) & 0xFFFFFFFF or 1


# (current serial, new answers, now) -> the serial of a changed table
SerialRule = Callable[[int, Mapping[str, "Answer"], float], int]


def _local_serial(current: int, answers: Mapping[str, Answer], now: float) -> int:
    return next_serial(current, now)


@dataclass
class HealthBoard:
    """The state of every check and the answer table derived from it.

    Holds state but does no I/O: feed it results, get transitions back. Alone, answers
    follow this instance's checks. Shared (instances agreeing, SPEC SF-5), they follow
    the statuses given to `decide`, own check changes are reported as kind "observed",
    and changes of the agreed statuses as kind "check".
    """

    config: Config
    checks: dict[CheckKey, CheckState] = field(default_factory=dict)
    table: AnswerTable = field(default_factory=lambda: AnswerTable(0, {}, False))
    shared: bool = False
    serial_rule: SerialRule = _local_serial

    def __post_init__(self) -> None:
        self.agreed: dict[CheckKey, Status] = {}
        self._keep: dict[str, Answer] = {}
        self._basis: dict[str, Basis] = {}
        self.maintenance: frozenset[str] = frozenset()  # node ids never chosen (SF-11)
        self.pins: dict[str, tuple[str, str]] = {}  # fqdn -> (node id, why): answered whatever the checks
        self.data: dict[str, DataFact] = {}  # node id -> its clustersync data (max_data_lag, SF-12)
        self.reconfigure(self.config, now=0.0)

    def keys(self) -> Iterable[CheckKey]:
        """Every (node id, polling id) pair the config asks to check."""
        for polling in self.config.pollings:
            for node in self.config.nodes:
                yield node.id, polling.id

    def reconfigure(self, config: Config, now: float) -> list[Transition]:
        """Switch to a new config, keeping the state of checks that still exist."""
        self.config = config
        self.checks = {key: self.checks.get(key, CheckState()) for key in self.keys()}
        self.agreed = {key: self.agreed.get(key, Status.UNKNOWN) for key in self.checks}
        self._by_polling: dict[str, dict[str, Status]] = {p.id: {} for p in config.pollings}
        for (node_id, polling_id), state in self.checks.items():
            status = self.agreed[(node_id, polling_id)] if self.shared else state.status
            self._by_polling[polling_id][node_id] = status
        self._unknown = sum(state.status is Status.UNKNOWN for state in self.checks.values())
        return self._recompute(now)

    @property
    def own_ready(self) -> bool:
        """Whether every check of this instance has reported at least once."""
        return self._unknown == 0

    def decide(
        self,
        statuses: Mapping[CheckKey, Status],
        now: float,
        why: Mapping[CheckKey, str],
        keep: Mapping[str, Answer] | None = None,
        basis: Mapping[str, Basis] | None = None,
    ) -> list[Transition]:
        """Shared mode: answer from these agreed statuses; return what changed.

        `keep` names hostnames whose answer stays as given instead of being chosen from
        the statuses; `basis` says, per hostname, what the answer rests on (its words end
        the answer's reason).
        """
        keep, basis = dict(keep or {}), dict(basis or {})
        rebasis = keep != self._keep or basis != self._basis
        self._keep, self._basis = keep, basis
        out: list[Transition] = []
        for key in self.checks:
            new = statuses.get(key, Status.UNKNOWN)
            old = self.agreed.get(key, Status.UNKNOWN)
            if new is old:
                continue
            self.agreed[key] = new
            node_id, polling_id = key
            self._by_polling[polling_id][node_id] = new
            out.append(Transition("check", now, old.value, new.value, why.get(key, ""), node_id, polling_id))
        if not self.table.ready and self._unknown:
            return out  # nothing is served before this instance's first full round
        if not out and not rebasis and self.table.ready:
            return []  # same statuses, same answers: a heartbeat costs no recompute
        return [*out, *self._recompute(now)]

    def adopt_serial(self, serial: int) -> bool:
        """Serve the same answers under a higher serial (another instance's); True if it changed."""
        if not self.table.ready or serial <= self.table.serial:
            return False
        self.table = replace(self.table, serial=serial)
        return True

    def observe(self, node_id: str, polling_id: str, result: PollResult) -> list[Transition]:
        """Record one result; return what changed because of it."""
        key = (node_id, polling_id)
        old = self.checks.get(key)
        if old is None:  # the check was removed by a reload while it ran
            return []
        schedule = self.config.schedule
        new = next_check_state(old, result, schedule.fall, schedule.rise)
        self.checks[key] = new
        if new.status is old.status:
            return []  # answers depend on statuses only: nothing else can have changed
        if not self.shared:
            self._by_polling[polling_id][node_id] = new.status
        if old.status is Status.UNKNOWN:
            self._unknown -= 1
        if new.status is Status.OK:
            why = f"{new.successes} consecutive successes" if old.status is Status.KO else "first check"
        else:
            why = result.error or "check failed"
            if old.status is Status.OK:
                why = f"{why} ({new.failures} consecutive failures)"
        change = Transition(
            "observed" if self.shared else "check",
            result.at,
            old.status.value,
            new.status.value,
            why,
            node_id=node_id,
            polling_id=polling_id,
        )
        if self.shared or (not self.table.ready and self._unknown):
            # Shared: answers wait for decide(). Alone: nothing is served before the first full round.
            return [change]
        return [change, *self._recompute(result.at)]

    def override(
        self, maintenance: frozenset[str], pins: Mapping[str, tuple[str, str]], now: float
    ) -> list[Transition]:
        """Put nodes in maintenance and pin hostnames (SF-11); return what changed."""
        if maintenance == self.maintenance and pins == self.pins:
            return []
        self.maintenance, self.pins = maintenance, dict(pins)
        if not self.table.ready:
            return []  # applied with the first full round
        return self._recompute(now)

    def set_data(self, facts: Mapping[str, DataFact], now: float) -> list[Transition]:
        """Take in each node's data freshness (hostnames with max_data_lag); return what changed."""
        if dict(facts) == self.data:
            return []
        self.data = dict(facts)
        if not self.table.ready:
            return []  # applied with the first full round
        return self._recompute(now)

    def status_by_node(self, polling_id: str) -> dict[str, Status]:
        """Each node's status for one polling."""
        return dict(self._by_polling.get(polling_id, {}))

    def _recompute(self, now: float) -> list[Transition]:
        ready = self.table.ready or self._unknown == 0
        answers: dict[str, Answer] = {}
        out: list[Transition] = []
        for hostname in self.config.hostnames:
            fqdn = self.config.fqdn(hostname)
            # Answers computed before the first full round were never served.
            previous = self.table.answers.get(fqdn) if self.table.ready else None
            kept = self._keep.get(fqdn)
            if kept is not None and not self.maintenance.intersection(kept.node_ids):
                answer = replace(kept, reason=kept.reason.split("; ", 1)[0])
            else:  # nodes in maintenance (SF-11) are never chosen, nor kept
                nodes = [n for n in self.config.nodes if n.id not in self.maintenance]
                status_of = self._by_polling.get(hostname.polling, {})
                ok = {n.id for n in nodes if status_of.get(n.id) is Status.OK}
                nodes, skipped = usable(nodes, ok, self.data, hostname.max_data_lag)
                answer = choose_answer(hostname, nodes, status_of, previous)
                if skipped:
                    answer = replace(answer, reason=f"{answer.reason} ({skipped})")
            answer = _overridden(answer, fqdn, self.config.nodes, self.maintenance, self.pins)
            if fqdn in self._basis:
                kind, words = self._basis[fqdn]
                answer = replace(answer, reason=f"{answer.reason}; {words}", basis=kind)
            answers[fqdn] = answer
            if not ready:
                continue
            old_addrs = ", ".join(previous.addresses) if previous else "(none)"
            if previous is None or previous.addresses != answer.addresses:
                out.append(
                    Transition(
                        "answer",
                        now,
                        old_addrs,
                        ", ".join(answer.addresses) or "(none)",
                        answer.reason,
                        hostname=fqdn,
                    )
                )
            was_down = previous.all_down if previous else False
            if answer.all_down and not was_down:
                out.append(Transition("all_down", now, "some OK", "all down", answer.reason, hostname=fqdn))
            elif was_down and not answer.all_down:
                out.append(Transition("recovered", now, "all down", "some OK", answer.reason, hostname=fqdn))
        changed = any(t.kind == "answer" for t in out) or ready != self.table.ready
        if changed or answers.keys() != self.table.answers.keys():
            serial = self.serial_rule(self.table.serial, answers, now) if ready else self.table.serial
            self.table = AnswerTable(serial, answers, ready)
        else:
            # Same addresses: keep the serial, refresh reasons.
            self.table = replace(self.table, answers=answers)
        return out
