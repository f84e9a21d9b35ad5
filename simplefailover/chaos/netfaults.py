"""Network faults on the namespace bed: iptables rules inside the nodes' namespaces.

`rules` (pure) turns a fault into the rules each node's namespace gets; `NetFaults` appends
them to the bed's chains and heals by flushing those chains. The kernel here has no netem:
loss is `-m statistic --mode random`. Nothing touches the host's own netfilter tables.
"""

from __future__ import annotations

import logging
import threading

from .netbed import CHAINS, NetBed, in_ns, run
from .netplan import LOSS, NetFault

logger = logging.getLogger(__name__)

LINK = "eth0"  # every node's link to the bridge, inside its namespace

Rule = tuple[str, tuple[str, ...]]  # ("in" | "out", iptables match and target)


def isolation() -> list[Rule]:
    """Every packet in and out of the node's link dropped (its loopback keeps working)."""
    return [("in", ("-i", LINK, "-j", "DROP")), ("out", ("-o", LINK, "-j", "DROP"))]


def rules(
    fault: NetFault, nodes: list[str], addresses: dict[str, str], peers_port: int
) -> dict[str, list[Rule]]:
    """The rules each node's namespace gets for a fault (a flapping link: those of its cut half)."""
    if fault.kind in ("node isolated", "link flapping"):
        return {fault.node: isolation()}
    if fault.kind == "partition":
        side_a, side_b = fault.sides(nodes)
        out: dict[str, list[Rule]] = {}
        for mine, theirs in ((side_a, side_b), (side_b, side_a)):
            for node in mine:
                out[node] = [r for far in theirs for r in _between(addresses[far])]
        return out
    if fault.kind == "one-way loss":
        return {fault.node: [("out", ("-d", addresses[fault.target], "-j", "DROP"))]}
    if fault.kind == "30% loss":
        random_drop = ("-m", "statistic", "--mode", "random", "--probability", f"{LOSS:g}", "-j", "DROP")
        return {fault.node: [("in", ("-i", LINK, *random_drop)), ("out", ("-o", LINK, *random_drop))]}
    if fault.kind == "peers cut":
        port = str(peers_port)
        return {
            fault.node: [
                ("in", ("-i", LINK, "-p", "udp", "--dport", port, "-j", "DROP")),
                ("out", ("-o", LINK, "-p", "udp", "--dport", port, "-j", "DROP")),
            ]
        }
    raise ValueError(f"unknown network fault {fault.kind!r}")


def _between(far: str) -> list[Rule]:
    return [("in", ("-s", far, "-j", "DROP")), ("out", ("-d", far, "-j", "DROP"))]


class NetFaults:
    """Apply and heal faults in the bed's namespaces (thread-safe: a flapping link has its own thread)."""

    def __init__(self, bed: NetBed, peers_port: int) -> None:
        self.bed = bed
        self.peers_port = peers_port
        self.nodes = [n.node_id for n in bed.nodes]
        self.addresses = {n.node_id: n.address for n in bed.nodes}
        self._lock = threading.Lock()

    def apply(self, fault: NetFault) -> None:
        """Append the fault's rules in every namespace concerned."""
        with self._lock:
            for node, node_rules in rules(fault, self.nodes, self.addresses, self.peers_port).items():
                namespace = self.bed.node(node).namespace
                for chain, match in node_rules:
                    run(in_ns(namespace, "iptables", "-w", "-A", CHAINS[chain], *match))

    def heal(self, fault: NetFault | None = None) -> None:
        """Flush the chains of the namespaces a fault touched (every node's when None)."""
        touched = (
            self.nodes if fault is None else list(rules(fault, self.nodes, self.addresses, self.peers_port))
        )
        with self._lock:
            for node in touched:
                namespace = self.bed.node(node).namespace
                for chain in CHAINS.values():
                    run(in_ns(namespace, "iptables", "-w", "-F", chain))
