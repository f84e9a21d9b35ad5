"""The chaos drill: writers on every node, random faults in windows, a settle after each.

The demo's launcher starts the cluster; this module only injects faults, records what it saw
and hands the record to the pure judges in `verdict`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

from ..demo.cluster import DemoCluster
from ..demo.procs import STOP_WAIT, dns_answer
from .garbage import payload, send, targets
from .plan import Fault, make_plan
from .scenarios import Scenarios
from .verdict import DnsVerdict, Sample, Span, judge_data, judge_dns

logger = logging.getLogger(__name__)

SAMPLE_EVERY = 0.2  # seconds between DNS samples of each instance
WRITE_EVERY = 0.1  # seconds between two writes of one writer
GARBAGE_EVERY = 0.1  # seconds between two bad messages
SETTLE_LIMIT = 60.0  # seconds a settle may take before the drill fails
MIN_WINDOW = 4.0  # seconds: a shorter last window is not worth its settle
SLACK = 2.0  # seconds added to the detection bound: sampling, a busy shared machine


@dataclass
class Record:
    """Everything the drill saw."""

    acked: dict[str, str] = field(default_factory=dict)  # contact id -> node that acknowledged it
    failed_writes: int = 0
    samples: list[Sample] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    offsets: list[float] = field(default_factory=list)  # clock offsets injected, seconds
    garbage: Counter[str] = field(default_factory=Counter)  # bad messages sent, by target
    settles: list[float] = field(default_factory=list)  # seconds from heal to converged
    scenarios: list[str] = field(default_factory=list)  # what each scripted fault did and saw
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Drill:
    """Run faults against a started DemoCluster for a bounded time, then judge."""

    unreachable_targets: tuple[str, ...] = ()  # garbage targets the drill cannot reach

    def __init__(self, cluster: DemoCluster, seconds: float, seed: int) -> None:
        self.cluster = cluster
        self.seconds = seconds
        self.seed = seed
        self.rng = random.Random(seed)
        self.record = Record()
        self.t0 = time.monotonic()
        self.writing = threading.Event()
        self.done = threading.Event()
        self.node_ids = list(cluster.nodes)
        timing = cluster.layout.timing
        self.bound = timing.detection_bound() + SLACK
        self.verdict = DnsVerdict()

    def now(self) -> float:
        """Seconds since the drill started."""
        return time.monotonic() - self.t0

    def run(self) -> bool:
        """Windows of faults, each followed by a settle, then the final checks; True when all passed."""
        threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in self.node_ids]
        threads.append(threading.Thread(target=self._sample, daemon=True))
        threads.append(threading.Thread(target=self._garbage, args=(random.Random(self.seed),), daemon=True))
        for thread in threads:
            thread.start()
        longest = min(15.0, max(8.0, self.seconds / 2))
        try:
            round_no = 0
            while round_no == 0 or self.seconds - self.now() >= MIN_WINDOW:
                round_no += 1
                window = max(MIN_WINDOW, min(longest, self.seconds - self.now()))
                self.writing.set()
                self._window(self.plan(window))
                self.writing.clear()
                for child in self.cluster.children:  # every fault is healed by now: none may be down
                    if not child.running:
                        code = child.proc.returncode if child.proc else None
                        problem = f"round {round_no}: {child.name} exited by itself ({code})"
                        self.record.problems.append(problem)
                healed = self.now()
                try:
                    self.cluster.heal_all()
                except (OSError, RuntimeError, TimeoutError) as exc:
                    self.record.problems.append(f"round {round_no}: healing: {exc}")
                    break
                if not self._settle(round_no, healed):
                    break
            if not self.record.problems:
                self._scenarios(round_no)
        finally:
            self.done.set()
            self.writing.set()  # wake the writers so they see done
            for thread in threads:
                thread.join(5)
        if not self.record.problems:
            self._final_data_check()
        self._judge()
        return not self.record.problems

    def _scenarios(self, round_no: int) -> None:
        """The scripted faults (two nodes die, two nodes cut from each other), each healed and settled."""
        scenarios = Scenarios(self.cluster, self.now, SLACK)
        for number, run in enumerate((scenarios.two_nodes_die, scenarios.partition), start=round_no + 1):
            self.writing.set()
            try:
                outcome = run()
            except (OSError, RuntimeError, TimeoutError, requests.RequestException) as exc:
                self.record.problems.append(f"scenario {number}: {exc}")
                return
            finally:
                self.writing.clear()
            self.record.scenarios.append(f"{outcome.name}: {outcome.text or outcome.problem}")
            if outcome.problem:
                self.record.problems.append(outcome.problem)
            with self.record.lock:
                self.record.spans += scenarios.take_spans(self.now())
            healed = self.now()
            try:
                self.cluster.heal_all()
            except (OSError, RuntimeError, TimeoutError) as exc:
                self.record.problems.append(f"scenario {number}: healing: {exc}")
                return
            if not self._settle(number, healed):
                return

    def plan(self, window: float) -> list[Fault]:
        """The faults of one window."""
        return make_plan(self.rng, window, self.node_ids)

    def _window(self, plan: list[Fault]) -> None:
        start = self.now()
        actions: list[tuple[float, int, Fault]] = []
        for fault in plan:
            actions += [(start + fault.start, 1, fault), (start + fault.end, 0, fault)]
        actions.sort(key=lambda a: (a[0], a[1]))
        injected: dict[Fault, float] = {}
        for at, inject, fault in actions:
            time.sleep(max(0.0, at - self.now()))
            try:
                if inject:
                    injected[fault] = self.now()
                    self._inject(fault)
                else:
                    self._heal(fault)
                    self._span(fault, injected.pop(fault), self.now())
            except (OSError, RuntimeError, TimeoutError) as exc:
                self.record.problems.append(f"{fault.kind} on {fault.node}: {exc}")

    def _inject(self, fault: Fault) -> None:
        logger.info("%.1f s: %s on %s", self.now(), fault.kind, fault.node)
        self.record.faults[fault.kind] += 1
        if fault.kind == "clock offset":
            self.record.offsets.append(fault.offset)
            self.cluster.write_config(fault.node, fault.offset)
            self.cluster.stop_process(fault.node, "sync")
            self.cluster.start_process(fault.node, "sync", wait=False)
            return
        if "SIGTERM" in fault.kind:
            self.cluster.stop_process(fault.node, fault.process)  # a clean stop, bounded
            return
        child = self.cluster.nodes[fault.node][fault.process]
        child.signal(signal.SIGKILL if "kill" in fault.kind else signal.SIGSTOP)

    def _heal(self, fault: Fault) -> None:
        child = self.cluster.nodes[fault.node][fault.process]
        if fault.kind == "clock offset":
            self.cluster.write_config(fault.node, 0)
            self.cluster.stop_process(fault.node, "sync")
        elif "SIGSTOP" in fault.kind:
            child.signal(signal.SIGCONT)
            return
        if child.proc is not None:
            # Reap the killed one: SIGKILL is not instant, and a heal that comes right after the
            # kill (a late window) would find it still running, not restart it, and see it gone.
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(STOP_WAIT)
        self.cluster.start_process(fault.node, fault.process, wait=False)

    def _span(self, fault: Fault, start: float, end: float) -> None:
        if fault.process in ("app", "failover"):
            with self.record.lock:
                self.record.spans.append(Span(fault.node, fault.kind, start, end))

    def _settle(self, round_no: int, healed: float) -> bool:
        """Wait until every instance gives one answer (the first node, one serial) and the data converged."""
        first = self.cluster.layout.nodes[0].address
        deadline = time.monotonic() + SETTLE_LIMIT
        last = ""
        while time.monotonic() < deadline:
            answers = self.cluster.answers()
            data = self.data_problems()
            serials = set(self.cluster.serials().values())
            agreed = set(answers.values()) == {(first,)} and len(serials) == 1 and None not in serials
            if agreed and not data:
                self.record.settles.append(self.now() - healed)
                logger.info("settle %d: converged in %.1f s", round_no, self.now() - healed)
                return True
            last = f"answers {answers}, serials {serials}; data: {'; '.join(data) or 'converged'}"
            time.sleep(0.25)
        self.record.problems.append(f"settle {round_no}: not converged within {SETTLE_LIMIT:g} s: {last}")
        return False

    def _final_data_check(self) -> None:
        # A write in flight when the last settle began may have been acknowledged after it.
        deadline = time.monotonic() + SETTLE_LIMIT
        while True:
            problems = self.data_problems()
            if not problems:
                return
            if time.monotonic() > deadline:
                self.record.problems += [f"at the end: {p}" for p in problems]
                return
            time.sleep(0.25)

    def data_problems(self) -> list[str]:
        """What is wrong with the replicated data now (empty when converged)."""
        tables = self._tables()
        with self.record.lock:
            acked = dict(self.record.acked)
        return judge_data(acked, tables) if tables else ["a table could not be read"]

    def _tables(self) -> dict[str, list[tuple[object, ...]]]:
        try:
            return {n: list(self.cluster.contacts(n)) for n in self.node_ids}
        except Exception as exc:  # a table being written right now: read again next time
            logger.debug("reading the tables: %s", exc)
            return {}

    def _write(self, node_id: str) -> None:
        spec = self.cluster.nodes[node_id].spec
        url = f"http://{spec.address}:{self.cluster.layout.http_port}/api/contacts"
        session = requests.Session()
        seq = 0
        while not self.done.is_set():
            self.writing.wait()
            if self.done.is_set():
                return
            seq += 1
            contact_id = f"{node_id}-{seq}"
            try:
                response = session.post(url, json={"id": contact_id, "name": f"chaos {seq}"}, timeout=2)
                ok = response.status_code == 201
            except requests.RequestException:
                ok = False
                session.close()
                session = requests.Session()
            with self.record.lock:
                if ok:
                    self.record.acked[contact_id] = node_id
                else:
                    self.record.failed_writes += 1
            time.sleep(WRITE_EVERY)

    def _sample(self) -> None:
        fqdn = self.cluster.layout.fqdn()
        specs = [n.spec for n in self.cluster.nodes.values()]
        while not self.done.is_set():
            for spec in specs:
                t = self.now()
                answer = dns_answer(spec.address, spec.ports.dns, fqdn, timeout=0.3)
                with self.record.lock:
                    self.record.samples.append(Sample(t, spec.node_id, answer))
            self.done.wait(SAMPLE_EVERY)

    def _garbage(self, rng: random.Random) -> None:
        every = [
            t
            for spec in self.cluster.layout.nodes
            for t in targets(self.cluster.layout, spec)
            if t.name not in self.unreachable_targets
        ]
        for _ in range(int(self.seconds / GARBAGE_EVERY)):  # bounded in count as well as time
            if self.done.wait(GARBAGE_EVERY):
                return
            target = rng.choice(every)
            send(target, payload(rng))
            with self.record.lock:
                self.record.garbage[target.name] += 1

    def _judge(self) -> None:
        record = self.record
        addresses = {n.node_id: n.address for n in self.cluster.layout.nodes}
        app = [s for s in record.spans if s.kind.startswith("app")]
        gaps = [s for s in record.spans if s.kind.startswith("simplefailover")]
        self.verdict = judge_dns(record.samples, app, gaps, addresses, self.bound)
        record.problems += self.verdict.violations
