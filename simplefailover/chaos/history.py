"""Judge the replicated data against the history of writes the clients made (pure, Jepsen style).

Every write is an operation on one key: set a value, or delete. Acknowledged ones are known to
have committed at some time between invocation and acknowledgement; the others may have
committed at any time after invocation, or never. clustersync resolves concurrent writes by
last-writer-wins on hybrid-clock stamps taken from each writer's wall clock, and the nodes
share one kernel clock, so an acknowledged write invoked after another was acknowledged must
win over it, unless a clock offset was in force: `skew` gives the allowance then.

For each key the final value on every node must come from a write no acknowledged write
definitely followed (the initial absence counts as a write acknowledged at the start).
A delete that found no row on its node (the app says `deleted: 0`) changed nothing: SQL has
nothing to capture, so it is no write at all and is left out (counted as `noop_deletes`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

GRAIN = 0.01  # seconds: the wall clock's resolution in the stamps (milliseconds) and then some
# The drill's clock offset is clustersync's `test_clock_offset`: it is added when a write is
# stamped, not when the app wrote it (the app's clock is the real one). A write made while that
# node's clustersync was down, just before it was restarted with the offset, is stamped with
# it: an offset's allowance starts this long (the longest clustersync fault, and then some)
# before the offset itself. On a real machine the app's clock would carry the offset already.
PENDING = 8.0


@dataclass(frozen=True)
class Op:
    """One client write: value None is a delete. complete: when acknowledged or given up."""

    key: str
    value: str | None
    node: str
    invoke: float
    complete: float
    acked: bool
    noop: bool = False  # an acknowledged delete that found no row on its node: no write at all


@dataclass
class DataVerdict:
    """Problems found and what was checked."""

    problems: list[str] = field(default_factory=list)
    keys: int = 0
    acked: int = 0
    acked_deletes: int = 0
    lost: int = 0  # keys whose final value lost an acknowledged write (a delete undone included)
    resurrected: int = 0  # keys present again after an acknowledged delete won
    noop_deletes: int = 0  # acknowledged deletes that found no row on their node


def no_skew(earlier: float, later: float) -> float:
    """The allowance between two times when no clock offset was injected."""
    return 0.0


def possible(ops: list[Op], skew: Callable[[float, float], float] = no_skew) -> set[str | None]:
    """The values one key may end with (None: absent) given its operations."""
    acked = [op for op in ops if op.acked]
    values: set[str | None] = set()
    if not any(_follows(a, -1e18, skew) for a in acked):
        values.add(None)  # never written by an acknowledged write: absent is fine
    for op in ops:
        if not op.acked or not any(a is not op and _follows(a, op.complete, skew) for a in acked):
            values.add(op.value)
    return values


def _follows(a: Op, done: float, skew: Callable[[float, float], float]) -> bool:
    """Whether acknowledged write a was invoked so long after `done` that it must win."""
    return a.invoke > done + GRAIN + skew(done, a.invoke)


def judge_history(
    ops: list[Op],
    tables: Mapping[str, Mapping[str, str]],
    skew: Callable[[float, float], float] = no_skew,
) -> DataVerdict:
    """Check every key on every node (tables: node -> key -> value) and that all nodes are equal."""
    verdict = DataVerdict()
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.noop:
            verdict.noop_deletes += 1
            continue
        by_key[op.key].append(op)
        if op.acked:
            verdict.acked += 1
            verdict.acked_deletes += op.value is None
    verdict.keys = len(by_key)
    for key, key_ops in by_key.items():
        allowed = possible(key_ops, skew)
        wrong = {node: table.get(key) for node, table in tables.items() if table.get(key) not in allowed}
        if not wrong:
            continue
        node, value = next(iter(wrong.items()))
        deleted = any(op.acked and op.value is None for op in key_ops)
        if value is not None and deleted and None in allowed:
            verdict.resurrected += 1
            what = "resurrected after an acknowledged delete"
        else:
            verdict.lost += 1
            what = "lost an acknowledged write"
        shown = ", ".join(sorted(str(v) for v in allowed))
        verdict.problems.append(
            f"key {key} {what}: {', '.join(sorted(wrong))} hold {value!r}, allowed: {shown}"
        )
    unknown = {k for table in tables.values() for k in table} - set(by_key)
    if unknown:
        verdict.problems.append(f"{len(unknown)} keys nobody wrote (e.g. {sorted(unknown)[:3]})")
    reference_node, reference = next(iter(tables.items()), ("", {}))
    for node, table in tables.items():
        if table != reference:
            differ = sorted(k for k in set(table) | set(reference) if table.get(k) != reference.get(k))
            verdict.problems.append(
                f"{node} differs from {reference_node} on {len(differ)} keys (e.g. {differ[:3]})"
            )
    return verdict


def clock_skew(offsets: list[tuple[float, float, float]]) -> Callable[[float, float], float]:
    """The allowance from injected clock offsets: (start, end, offset seconds) each.

    A node running ahead stamps its writes in the future, and every node that hears from it
    keeps its clock at least that far ahead until real time catches up: an offset counts from
    PENDING s before its start until |offset| after its end. A node running behind loses to
    earlier writes.
    """

    def skew(earlier: float, later: float) -> float:
        return max(
            (abs(o) for start, end, o in offsets if start - PENDING < later and end + abs(o) > earlier),
            default=0.0,
        )

    return skew
