"""Judge a chaos run from what was recorded: DNS samples against the fault timeline (pure)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One DNS answer of one instance; answer None when it gave none (down, stopped, not ready)."""

    t: float
    instance: str
    answer: tuple[str, ...] | None


@dataclass(frozen=True)
class Span:
    """A time when a process was not running (killed or stopped): [start, end)."""

    node: str
    kind: str
    start: float
    end: float


@dataclass
class DnsVerdict:
    """Violations of the detection bound and the detection time of every app fault."""

    violations: list[str] = field(default_factory=list)
    detections: list[tuple[Span, float | None]] = field(default_factory=list)  # None: healed first

    @property
    def worst(self) -> tuple[Span, float] | None:
        """The slowest detected fault and its detection time."""
        found = [(span, d) for span, d in self.detections if d is not None]
        return max(found, key=lambda item: item[1]) if found else None


def judge_dns(
    samples: list[Sample],
    app_down: list[Span],
    instance_gaps: list[Span],
    addresses: dict[str, str],
    bound: float,
) -> DnsVerdict:
    """Check that no instance pointed at an app down longer than bound, and time each detection.

    An instance's clock starts when the app went down or when the instance itself was running
    again (restarted or continued), whichever is later: a frozen instance cannot detect anything.
    Detection is timed on the instances that ran throughout the fault.

    An all-down answer (every node's address: `when_all_down: all`, given by an instance
    that sees every node KO, e.g. one cut off from everything while its own app is down)
    names no node in particular: it is the configured last resort, not a failover to a dead
    node, so it is no violation and counts as having moved (as in `judge_partitions`, and in
    docs/agreement.md's survival property).
    """
    everyone = set(addresses.values())

    def names(answer: tuple[str, ...], address: str) -> bool:
        return address in answer and (len(everyone) < 2 or set(answer) != everyone)

    resumes: dict[str, list[float]] = defaultdict(list)
    gaps: dict[str, list[Span]] = defaultdict(list)
    for gap in instance_gaps:
        resumes[gap.node].append(gap.end)
        gaps[gap.node].append(gap)
    for times in resumes.values():
        times.sort()

    def origin(instance: str, span: Span, t: float) -> float:
        times = resumes[instance]
        i = bisect.bisect_right(times, t)
        return max(span.start, times[i - 1]) if i else span.start

    by_instance: dict[str, list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.t):
        if sample.answer is not None:
            by_instance[sample.instance].append(sample)
    verdict = DnsVerdict()
    for span in app_down:
        address = addresses[span.node]
        slowest: float | None = 0.0
        for instance, seen in by_instance.items():
            inside = [s for s in seen if span.start <= s.t < span.end]
            for s in inside:
                late = s.t - origin(instance, span, s.t)
                if names(s.answer, address) and late > bound:  # type: ignore[arg-type]
                    verdict.violations.append(
                        f"{instance} answered {span.node} ({address}) {late:.1f} s after its {span.kind}"
                        f" (bound {bound:.1f} s)"
                    )
            showing = [k for k, s in enumerate(inside) if names(s.answer, address)]  # type: ignore[arg-type]
            if not showing or any(g.start < span.end and span.start < g.end for g in gaps[instance]):
                continue
            if showing[-1] == len(inside) - 1:
                slowest = None  # still answered when the fault was healed: it lasted too short
            elif slowest is not None:
                moved = inside[showing[-1] + 1].t
                slowest = max(slowest, moved - origin(instance, span, moved))
        verdict.detections.append((span, slowest))
    return verdict


def silent(samples: list[Sample], instance_gaps: list[Span], restart: float) -> tuple[int, int]:
    """Unanswered samples: (while that instance was down or within `restart` s after, others).

    A restarted instance answers SERVFAIL until its first round of polls, hence the allowance;
    the others are queries a running instance left unanswered within the sampler's timeout.
    """
    gaps: dict[str, list[Span]] = defaultdict(list)
    for gap in instance_gaps:
        gaps[gap.node].append(gap)
    down = other = 0
    for sample in samples:
        if sample.answer is not None:
            continue
        if any(g.start <= sample.t < g.end + restart for g in gaps[sample.instance]):
            down += 1
        else:
            other += 1
    return down, other


def judge_data(acked: dict[str, str], tables: dict[str, list[tuple[object, ...]]]) -> list[str]:
    """Problems with the replicated data: acknowledged writes missing, nodes that differ."""
    problems = []
    for node, rows in tables.items():
        ids = {str(row[0]) for row in rows}
        missing = [i for i in acked if i not in ids]
        if missing:
            problems.append(f"{node}: {len(missing)} acknowledged writes missing (e.g. {missing[:3]})")
    reference_node, reference = next(iter(tables.items()))
    for node, rows in tables.items():
        if rows != reference:
            only_here = len(set(rows) - set(reference))
            only_there = len(set(reference) - set(rows))
            problems.append(
                f"{node} differs from {reference_node}: {only_here} rows only on {node},"
                f" {only_there} only on {reference_node}"
            )
    return problems
