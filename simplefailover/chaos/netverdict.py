"""What each side of a partition answered, and whether it named a node it could not reach (pure).

During a two-group partition the clients reach both sides, so each side's instances are
sampled. What a side without a majority should answer is the agreement's business
(docs/agreement.md); the drill reports every answer. It fails a side only for naming a node
on the other side (unreachable from it) longer than the detection bound after the cut, unless
the answer names every node (the all-down policy answers them all).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .verdict import Sample


@dataclass(frozen=True)
class Partition:
    """A partition that lasted [start, end): the two groups of nodes."""

    start: float
    end: float
    sides: tuple[tuple[str, ...], tuple[str, ...]]


@dataclass
class SideReport:
    """What one side's instances answered during the partition, by answer."""

    partition: Partition
    side: tuple[str, ...]
    answers: Counter[str] = field(default_factory=Counter)


def judge_partitions(
    samples: list[Sample],
    partitions: list[Partition],
    addresses: dict[str, str],
    bound: float,
) -> tuple[list[SideReport], list[str]]:
    """Per partition and side, the answers given until the heal; violations from `bound` after the cut."""
    names = {address: node for node, address in addresses.items()}
    reports: list[SideReport] = []
    violations: list[str] = []
    for part in partitions:
        for side, other in (part.sides, part.sides[::-1]):
            report = SideReport(part, side)
            reports.append(report)
            for s in samples:
                if s.instance not in side or not part.start <= s.t < part.end:
                    continue
                if s.answer is None:
                    report.answers["(no answer)"] += 1
                    continue
                shown = [names.get(a, a) for a in s.answer]
                report.answers[",".join(shown)] += 1
                beyond = [n for n in shown if n in other]
                if beyond and set(shown) != set(addresses) and s.t >= part.start + bound:
                    violations.append(
                        f"{s.instance} (side {','.join(side)}) answered {','.join(beyond)}"
                        " across the partition"
                        f" {s.t - part.start:.1f} s after the cut (bound {bound:.1f} s)"
                    )
    return reports, violations


def agreement_spread(times: dict[str, float | None]) -> float | None:
    """Seconds between the first and the last instance giving the final answer (None: one never did)."""
    if not times or any(t is None for t in times.values()):
        return None
    known = [t for t in times.values() if t is not None]
    return max(known) - min(known)


def describe_side(report: SideReport) -> str:
    """One line of the summary: the side and its answers with their counts."""
    answers = ", ".join(f"{a} x{c}" for a, c in report.answers.most_common()) or "no samples"
    return f"side {','.join(report.side)}: {answers}"
