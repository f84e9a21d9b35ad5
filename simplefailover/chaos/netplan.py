"""The network faults of one chaos window on the namespace bed: which, between whom, when (pure).

One network fault at a time (besides the process and clock faults of `plan`), each healed
before the window ends. `cuts` tells, for the verdict, when a node's application could not
be reached from the clients at all (isolation, and the cut half of every flap).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NET_KINDS = (
    "node isolated",  # every packet in and out of the node's link dropped, clients' included
    "partition",  # two groups of nodes that cannot reach each other; clients reach both
    "one-way loss",  # every packet from node to target dropped; target to node passes
    "30% loss",  # each packet in and out of the node's link dropped with probability 0.3
    "link flapping",  # the node's link cut and healed every `period` seconds
    "peers cut",  # the node's instance cannot reach the other instances (peers port only)
)
NET_DURATION = (4.0, 10.0)  # seconds a network fault lasts
# A partition outlasts the detection bound (7 s with the drill's timing): what each side
# answers once it has decided is what the summary reports.
PARTITION_DURATION = (9.0, 14.0)
NET_GAP = (0.5, 2.5)  # seconds between two network faults
FLAP_PERIOD = (1.5, 3.0)  # seconds of each cut and each heal of a flapping link
LOSS = 0.3


@dataclass(frozen=True)
class NetFault:
    """A network fault at `start` s into the window, healed `duration` later.

    node: the node it hits (for a partition: one side is `group`, the other the rest);
    target: the far end of a one-way loss; period: the half-cycle of a flapping link.
    """

    start: float
    duration: float
    kind: str
    node: str
    group: tuple[str, ...] = ()
    target: str = ""
    period: float = 0.0

    @property
    def end(self) -> float:
        return self.start + self.duration

    def sides(self, nodes: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A partition's two groups, in the order of nodes."""
        return tuple(n for n in nodes if n in self.group), tuple(n for n in nodes if n not in self.group)

    def cuts(self) -> list[tuple[float, float]]:
        """The times (relative to the window) when the node's link is cut for everyone."""
        if self.kind == "node isolated":
            return [(self.start, self.end)]
        if self.kind != "link flapping":
            return []
        out, t = [], self.start
        while t < self.end:
            out.append((t, min(t + self.period, self.end)))
            t += 2 * self.period
        return out


def make_net_plan(rng: random.Random, window: float, nodes: list[str]) -> list[NetFault]:
    """Random network faults filling a window, one at a time, all healed before it ends."""
    faults: list[NetFault] = []
    t = rng.uniform(0.2, NET_GAP[1])
    while True:
        kind = rng.choice(NET_KINDS)
        duration = rng.uniform(*(PARTITION_DURATION if kind == "partition" else NET_DURATION))
        if t + duration > window:
            break
        faults.append(net_fault(rng, round(t, 2), round(duration, 2), kind, nodes))
        t += duration + rng.uniform(*NET_GAP)
    return faults


def net_fault(rng: random.Random, start: float, duration: float, kind: str, nodes: list[str]) -> NetFault:
    """One fault of a kind with its random parameters."""
    node = rng.choice(nodes)
    if kind == "partition":  # a minority side of one or more nodes (one of two for two nodes)
        size = rng.randint(1, max(1, len(nodes) // 2))
        group = tuple(sorted(rng.sample(nodes, size), key=nodes.index))
        return NetFault(start, duration, kind, group[0], group=group)
    if kind == "one-way loss":
        target = rng.choice([n for n in nodes if n != node])
        return NetFault(start, duration, kind, node, target=target)
    if kind == "link flapping":
        return NetFault(start, duration, kind, node, period=round(rng.uniform(*FLAP_PERIOD), 2))
    return NetFault(start, duration, kind, node)


def describe(fault: NetFault, nodes: list[str]) -> str:
    """How the summary and the log name a fault."""
    if fault.kind == "partition":
        a, b = fault.sides(nodes)
        return f"partition {','.join(a)} | {','.join(b)}"
    if fault.kind == "one-way loss":
        return f"one-way loss {fault.node} -> {fault.target}"
    if fault.kind == "link flapping":
        return f"link flapping on {fault.node} (every {fault.period:g} s)"
    return f"{fault.kind} on {fault.node}"
