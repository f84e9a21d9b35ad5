"""Scripted faults after the random windows: two nodes die, and two nodes cut from each other.

Kept simple on purpose (the drill may later move into network namespaces):
- two nodes die: node1 then node2 lose app, clustersync and simplefailover at once
  (kill -9); the last node's instance must answer its own node within the two-node bound
  (interval + fall x (timeout + retry_interval) + stale_after, plus slack);
- two nodes cut from each other: the peer messages between node1's and node2's instances
  are dropped by iptables (chain SF15-chaos, their addresses and peer ports only), and each
  instance's checks of the other's node fail (peers.test_fault_nodes, applied by a reload);
  clustersync between them is not cut. Every running instance must keep answering node1
  (node3 hears both sides), checked over the detection bound.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from ..demo.cluster import DemoCluster
from .firewall import Firewall, FirewallError
from .verdict import Span

logger = logging.getLogger(__name__)

CHAIN = "SF15-chaos"
POLL = 0.1  # seconds between two looks at the answers


@dataclass
class Outcome:
    """What one scenario did and saw, for the summary."""

    name: str
    text: str
    problem: str = ""


class Scenarios:
    """Run the scripted faults against a started DemoCluster; each leaves its faults for heal_all."""

    def __init__(self, cluster: DemoCluster, now: Callable[[], float], slack: float) -> None:
        self.cluster = cluster
        self.now = now  # the drill's clock, so spans line up with its samples
        t = cluster.layout.timing
        self.checks = t.interval + t.fall * (t.timeout + t.retry_interval)
        self.bound = self.checks + t.stale_after + t.heartbeat + slack
        self.hold = t.detection_bound() + slack
        self.spans: list[Span] = []

    def two_nodes_die(self) -> Outcome:
        name = "two nodes die"
        nodes = self.cluster.layout.nodes
        first, second, last = nodes[0], nodes[1], nodes[-1]
        for spec in (first, second):
            start = self.now()
            for kind in ("app", "sync", "failover"):
                self.cluster.nodes[spec.node_id][kind].kill()
            self.spans += [
                Span(spec.node_id, "app kill -9 (node dies whole)", start, float("inf")),
                Span(spec.node_id, "simplefailover kill -9 (node dies whole)", start, float("inf")),
            ]
            if spec is first:
                time.sleep(1.0)  # one after the other
        died = self.now()
        took = self._until(lambda: self.cluster.answers()[last.node_id] == (last.address,), self.bound * 2)
        if took is None:
            return Outcome(name, "", f"{last.node_id} did not answer itself within {self.bound * 2:.1f} s")
        text = (
            f"{first.node_id} then {second.node_id} killed whole (app, clustersync, simplefailover):"
            f" {last.node_id} answered {last.address} {took - died:.1f} s after the second death"
            f" (bound {self.bound:.1f} s)"
        )
        if took - died > self.bound:
            return Outcome(name, text, f"{name}: {took - died:.1f} s is beyond the bound {self.bound:.1f} s")
        return Outcome(name, text)

    def partition(self) -> Outcome:
        name = "two nodes cut from each other"
        nodes = self.cluster.layout.nodes
        a, b = nodes[0], nodes[1]
        try:
            wall = Firewall(CHAIN, (["-s", a.address, "-d", b.address], ["-s", b.address, "-d", a.address]))
        except FirewallError as exc:
            return Outcome(name, f"skipped: {exc}")
        try:
            wall.drop("-s", a.address, "-d", b.address, "-p", "udp", "--dport", str(b.ports.peers))
            wall.drop("-s", b.address, "-d", a.address, "-p", "udp", "--dport", str(a.ports.peers))
            for here, there in ((a, b), (b, a)):
                self.cluster.write_config(here.node_id, 0, (there.node_id,))
                self.cluster.nodes[here.node_id]["failover"].signal(signal.SIGHUP)
            wanted = (a.address,)
            # the cut is in place once each side sees the other's node KO and no longer hears it
            cut = self._until(lambda: self._sides_cut(a.node_id, b.node_id), self.hold * 2)
            if cut is None:
                return Outcome(name, "", f"{name}: the cut did not show in the instances' views")
            answers = self.cluster.answers
            wrong = self._watch(lambda: {k: v for k, v in answers().items() if v != wanted}, self.hold)
        finally:
            wall.close()
            for spec in (a, b):
                self.cluster.write_config(spec.node_id)
                self.cluster.nodes[spec.node_id]["failover"].signal(signal.SIGHUP)
        text = (
            f"{a.node_id} | {b.node_id} (peer messages dropped by iptables, each one's checks of the other"
            " failing):"
            f" every instance kept answering {a.node_id} over {self.hold:.1f} s"
        )
        if wrong:
            return Outcome(name, "", f"{name}: answers other than {a.address}: {wrong}")
        return Outcome(name, text)

    def _sides_cut(self, a: str, b: str) -> bool:
        for here, there in ((a, b), (b, a)):
            spec = self.cluster.nodes[here].spec
            url = f"http://{spec.address}:{spec.ports.dashboard}/api/status"
            status = requests.get(url, timeout=1).json()
            own = {c["node"]: c["status"] for c in status["checks"] if c["polling"] == "web"}
            if own.get(there) != "KO" or there in status["peers"]["heard"]:
                return False
        return True

    def _until(self, condition: Callable[[], bool], seconds: float) -> float | None:
        """The drill time when condition first held, None after `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if condition():
                    return self.now()
            except Exception as exc:  # an instance restarting or a busy dashboard: look again
                logger.debug("scenario: %s", exc)
            time.sleep(POLL)
        return None

    def _watch(self, wrong: Callable[[], dict[str, object]], seconds: float) -> dict[str, object]:
        """The first wrong answers seen over `seconds` ({} when none)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = wrong()
            if found:
                return found
            time.sleep(POLL)
        return {}

    def take_spans(self, end: float) -> list[Span]:
        """The processes this scenario took down, their spans ending now (they are being healed)."""
        spans, self.spans = self.spans, []
        return [Span(s.node, s.kind, s.start, min(s.end, end)) for s in spans]
