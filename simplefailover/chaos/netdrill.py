"""The chaos drill on the namespace bed: the process and clock faults plus network faults.

Writers insert, overwrite and delete through every node's app, each write recorded as an
operation with its invocation and acknowledgement times, and the data is judged against that
history (`history`). DNS is sampled from the root namespace, the clients' vantage.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from dataclasses import dataclass, field

import requests

from ..demo.cluster import DemoCluster
from .drill import SLACK, Drill
from .history import DataVerdict, Op, clock_skew, judge_history
from .netbed import NetBed
from .netfaults import NetFaults
from .netplan import NetFault, describe, make_net_plan
from .netverdict import Partition, SideReport, agreement_spread, judge_partitions
from .plan import Fault
from .verdict import Span, judge_dns

logger = logging.getLogger(__name__)

SHARED_KEYS = 12  # keys every writer overwrites and deletes (the rest are inserts of new keys)
INSERT, OVERWRITE = 0.5, 0.85  # cumulative shares of inserts and overwrites; the rest deletes
WRITE_TIMEOUT = 2.0  # seconds a client waits for an acknowledgement


@dataclass
class NetRecord:
    """What the network part of the drill saw, besides the base Record."""

    ops: list[Op] = field(default_factory=list)
    net_faults: Counter[str] = field(default_factory=Counter)
    cuts: list[Span] = field(default_factory=list)  # a node unreachable from the clients
    partitions: list[Partition] = field(default_factory=list)
    clocks: list[tuple[float, float, float]] = field(default_factory=list)  # start, end, offset
    spreads: list[float] = field(default_factory=list)  # s between first and last instance agreeing
    crossing: list[str] = field(default_factory=list)  # answers naming a node across a partition
    data: DataVerdict = field(default_factory=DataVerdict)
    sides: list[SideReport] = field(default_factory=list)


class NetDrill(Drill):
    """Drill on the bed: faults of both kinds, a history of writes, partitions reported per side."""

    unreachable_targets = ("dashboard",)  # on each namespace's own loopback (SPEC SF-6)

    def __init__(
        self, cluster: DemoCluster, seconds: float, seed: int, bed: NetBed, strict_partitions: bool = False
    ) -> None:
        super().__init__(cluster, seconds, seed)
        self.bed = bed
        # docs/agreement.md (isolation: keep_last): a cut-off minority keeps the last agreed
        # answers, which may name a node across the partition; reported, a failure only if asked.
        self.strict_partitions = strict_partitions
        self.net = NetRecord()
        self.faults = NetFaults(bed, cluster.layout.nodes[0].ports.peers)
        self.net_rng = random.Random(seed * 7919 + 1)
        self._flaps: dict[NetFault, tuple[threading.Event, threading.Thread]] = {}
        self._started: dict[object, float] = {}

    def plan(self, window: float) -> list[Fault]:
        plan: list[Fault | NetFault] = [
            *super().plan(window),
            *make_net_plan(self.net_rng, window, self.node_ids),
        ]
        return plan  # type: ignore[return-value]  # _inject and _heal take either kind

    def _scenarios(self, round_no: int) -> None:
        """None here: the loopback bed's scripted cut uses the host's iptables, which never sees
        the bridge's traffic; this bed's random faults cut, partition and isolate nodes instead."""

    def _window(self, plan: list[Fault]) -> None:
        try:
            super()._window(plan)
        finally:
            for stop, thread in self._flaps.values():
                stop.set()
                thread.join(10)
            self._flaps.clear()
            self.faults.heal()

    def _inject(self, fault: Fault) -> None:
        if not isinstance(fault, NetFault):
            if fault.kind == "clock offset":
                self._started[fault] = self.now()
            super()._inject(fault)
            return
        logger.info("%.1f s: %s", self.now(), describe(fault, self.node_ids))
        self.net.net_faults[fault.kind] += 1
        self._started[fault] = self.now()
        if fault.kind == "link flapping":
            stop = threading.Event()
            thread = threading.Thread(target=self._flap, args=(fault, stop), daemon=True)
            self._flaps[fault] = (stop, thread)
            thread.start()
            return
        self.faults.apply(fault)

    def _heal(self, fault: Fault) -> None:
        if not isinstance(fault, NetFault):
            super()._heal(fault)
            if fault.kind == "clock offset":
                self.net.clocks.append((self._started.pop(fault), self.now(), fault.offset))
            return
        start = self._started.pop(fault)
        if fault.kind == "link flapping":
            stop, thread = self._flaps.pop(fault)
            stop.set()
            thread.join(10)
        self.faults.heal(fault)
        with self.record.lock:
            if fault.kind == "node isolated":
                self.net.cuts.append(Span(fault.node, "node isolated", start, self.now()))
            elif fault.kind == "partition":
                self.net.partitions.append(Partition(start, self.now(), fault.sides(self.node_ids)))

    def _span(self, fault: Fault, start: float, end: float) -> None:
        if not isinstance(fault, NetFault):
            super()._span(fault, start, end)

    def _flap(self, fault: NetFault, stop: threading.Event) -> None:
        """Cut the node's link, heal it, every `period` s, until stopped."""
        cut = NetFault(0, 0, "node isolated", fault.node)
        while not stop.is_set():
            start = self.now()
            self.faults.apply(cut)
            stop.wait(fault.period)
            self.faults.heal(cut)
            with self.record.lock:
                self.net.cuts.append(Span(fault.node, "link flapping", start, self.now()))
            stop.wait(fault.period)

    def _write(self, node_id: str) -> None:
        spec = self.cluster.nodes[node_id].spec
        url = f"http://{spec.address}:{self.cluster.layout.http_port}/api/contacts"
        rng = random.Random(f"{self.seed}-{node_id}")
        session = requests.Session()
        seq = 0
        while not self.done.is_set():
            self.writing.wait()
            if self.done.is_set():
                return
            seq += 1
            roll, value = rng.random(), f"{node_id}-{seq}"
            key = value if roll < INSERT else f"shared-{rng.randrange(SHARED_KEYS):02d}"
            invoke, noop = self.now(), False
            try:
                if roll < OVERWRITE:
                    response = session.post(url, json={"id": key, "name": value}, timeout=WRITE_TIMEOUT)
                    ok = response.status_code == 201
                else:
                    response = session.delete(f"{url}/{key}", timeout=WRITE_TIMEOUT)
                    ok = response.status_code == 200
                    noop = ok and response.json().get("deleted") == 0
            except (requests.RequestException, ValueError):
                ok = False
                session.close()
                session = requests.Session()
            op = Op(key, value if roll < OVERWRITE else None, node_id, invoke, self.now(), ok, noop)
            with self.record.lock:
                self.net.ops.append(op)
                if ok:
                    self.record.acked[f"{key}@{seq}"] = node_id
                else:
                    self.record.failed_writes += 1
            self.done.wait(0.1)

    def data_problems(self) -> list[str]:
        try:
            rows = {n: self.cluster.contacts(n) for n in self.node_ids}
        except Exception as exc:  # a table being written right now: read again next time
            return [f"a table could not be read: {exc}"]
        with self.record.lock:
            ops, clocks = list(self.net.ops), list(self.net.clocks)
        tables = {n: {str(r[0]): str(r[1]) for r in table} for n, table in rows.items()}
        verdict = judge_history(ops, tables, clock_skew(clocks))
        self.net.data = verdict
        first, reference = next(iter(rows.items()))
        for node, table in rows.items():  # every column, not only the values the writers chose
            if table != reference and not verdict.problems:
                verdict.problems.append(f"{node}'s rows differ from {first}'s in a column other than name")
        return verdict.problems

    def _settle(self, round_no: int, healed: float) -> bool:
        """The base settle, and how far apart the instances came to the final answer."""
        first = (self.cluster.layout.nodes[0].address,)
        agreed_at: dict[str, float | None] = dict.fromkeys(self.node_ids)
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for node_id, answer in self.cluster.answers().items():
                    if answer != first:
                        agreed_at[node_id] = None
                    elif agreed_at[node_id] is None:
                        agreed_at[node_id] = self.now()
                stop.wait(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            settled = super()._settle(round_no, healed)
        finally:
            stop.set()
            watcher.join(5)
        spread = agreement_spread(agreed_at)
        if settled and spread is not None:
            self.net.spreads.append(spread)
            allowed = self.cluster.layout.timing.heartbeat + SLACK
            if spread > allowed:
                self.record.problems.append(
                    f"settle {round_no}: the instances came to the final answer {spread:.1f} s apart"
                    f" (allowed: one heartbeat + {SLACK:g} s slack = {allowed:g} s)"
                )
        return settled

    def _judge(self) -> None:
        record = self.record
        addresses = {n.node_id: n.address for n in self.cluster.layout.nodes}
        down = [s for s in record.spans if s.kind.startswith("app")] + self.net.cuts
        gaps = [s for s in record.spans if s.kind.startswith("simplefailover")]
        self.verdict = judge_dns(record.samples, down, gaps, addresses, self.bound)
        record.problems += self.verdict.violations
        self.net.sides, self.net.crossing = judge_partitions(
            record.samples, self.net.partitions, addresses, self.bound
        )
        if self.strict_partitions:
            record.problems += self.net.crossing
