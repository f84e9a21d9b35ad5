"""The chaos drill's network: one namespace per node, all joined to one bridge (`ip netns`, root).

    root namespace (clients, mail sink)   sf20c 198.18.20.254/24
        |  veth
    sf20-br namespace: bridge br0  -- veth --  sf20-n1 (eth0 198.18.20.11/24)
                                   -- veth --  sf20-n2 (eth0 198.18.20.12/24) ...

The bridge has its own namespace so the host's netfilter (br_netfilter, FORWARD rules of
other software) never sees the drill's traffic. Every name starts with the prefix; a bed left
by a killed run is found by that prefix and removed at the next start. Teardown kills every
process still in the namespaces, then deletes them (their veths go with them).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "sf20"  # every namespace and root-namespace link the bed makes starts with it
SUBNET = "198.18.20"  # RFC 2544 benchmarking range, never routed anywhere
CLIENT_HOST = 254  # the root namespace's address on the bridge: clients and the mail sink
FIRST_NODE_HOST = 11
LOCK = Path("/run/lock") / f"{PREFIX}-chaos-bed.lock"
CHAINS = {"in": "SF20-IN", "out": "SF20-OUT"}  # the faults' iptables chains, in node namespaces only


class BedError(RuntimeError):
    """The bed cannot be built here (not root, no `ip`, another drill holds it, a command failed)."""


def missing() -> str | None:
    """Why no bed can be built on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "the network drill needs root (ip netns, iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"the network drill needs `{tool}` (iproute2, iptables)"
    return None


def run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one command (ip, iptables), bounded in time; BedError with its output when it fails."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise BedError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done


def in_ns(namespace: str, *argv: str) -> list[str]:
    """A command line that runs argv inside a namespace."""
    return ["ip", "netns", "exec", namespace, *argv]


@dataclass(frozen=True)
class BedNode:
    """One node's namespace and address."""

    node_id: str
    namespace: str
    address: str


@dataclass
class NetBed:
    """The namespaces, veths and bridge of one drill; `up()` builds them, `down()` removes them."""

    node_ids: list[str]
    prefix: str = PREFIX
    nodes: list[BedNode] = field(default_factory=list)
    _lock_file: int | None = None
    _down: threading.Lock = field(default_factory=threading.Lock)
    _built: bool = False

    @property
    def bridge_ns(self) -> str:
        return f"{self.prefix}-br"

    @property
    def client_address(self) -> str:
        """The root namespace's address on the bridge (clients, the mail sink)."""
        return f"{SUBNET}.{CLIENT_HOST}"

    @property
    def client_link(self) -> str:
        return f"{self.prefix}c"

    def node(self, node_id: str) -> BedNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def up(self) -> None:
        """Take the lock, remove a stale bed, build this one; down() is registered with atexit."""
        self._take_lock()
        atexit.register(self.down)
        clean_stale(self.prefix)
        self._built = True
        self.nodes = [
            BedNode(node_id, f"{self.prefix}-n{i}", f"{SUBNET}.{FIRST_NODE_HOST + i - 1}")
            for i, node_id in enumerate(self.node_ids, start=1)
        ]
        br = self.bridge_ns
        run(["ip", "netns", "add", br])
        ip_br = in_ns(br, "ip")
        run([*ip_br, "link", "add", "br0", "type", "bridge", "forward_delay", "0"])
        run([*ip_br, "link", "set", "br0", "up"])
        run([*ip_br, "link", "set", "lo", "up"])
        # The clients' side: one veth from the root namespace to the bridge.
        peer = f"{self.client_link}b"
        run(["ip", "link", "add", self.client_link, "type", "veth", "peer", "name", peer])
        run(["ip", "link", "set", peer, "netns", br])
        run([*ip_br, "link", "set", peer, "master", "br0", "up"])
        run(["ip", "addr", "add", f"{self.client_address}/24", "dev", self.client_link])
        run(["ip", "link", "set", self.client_link, "up"])
        for i, node in enumerate(self.nodes, start=1):
            self._add_node(i, node)

    def _add_node(self, i: int, node: BedNode) -> None:
        ns, br = node.namespace, self.bridge_ns
        inside, outside = f"{self.prefix}n{i}", f"{self.prefix}n{i}b"
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", inside, "type", "veth", "peer", "name", outside])
        run(["ip", "link", "set", outside, "netns", br])
        run([*in_ns(br, "ip"), "link", "set", outside, "master", "br0", "up"])
        run(["ip", "link", "set", inside, "netns", ns])
        ip = in_ns(ns, "ip")
        run([*ip, "link", "set", inside, "name", "eth0"])
        run([*ip, "addr", "add", f"{node.address}/24", "dev", "eth0"])
        run([*ip, "link", "set", "eth0", "up"])
        run([*ip, "link", "set", "lo", "up"])
        iptables = in_ns(ns, "iptables", "-w")
        for hook, chain in (("INPUT", CHAINS["in"]), ("OUTPUT", CHAINS["out"])):
            run([*iptables, "-N", chain])
            run([*iptables, "-A", hook, "-j", chain])

    def down(self) -> None:
        """Kill what still runs in the namespaces and delete them; safe to call twice."""
        with self._down:
            if self._built:
                self._built = False
                clean_stale(self.prefix)
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None

    def _take_lock(self) -> None:
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BedError(f"another network drill holds {LOCK}; wait for it to end") from None
        self._lock_file = fd


def namespaces(prefix: str = PREFIX) -> list[str]:
    """The network namespaces whose name starts with prefix-."""
    listed = run(["ip", "netns", "list"], check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(f"{prefix}-")]


def root_links(prefix: str = PREFIX) -> list[str]:
    """The root namespace's links whose name starts with prefix."""
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return [n for n in names if n.startswith(prefix)]


def clean_stale(prefix: str = PREFIX) -> list[str]:
    """Kill every process in the prefix's namespaces, delete them and its root links; what was removed."""
    removed = []
    for ns in namespaces(prefix):
        pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        run(["ip", "netns", "delete", ns], check=False)
        removed.append(ns)
    for link in root_links(prefix):
        run(["ip", "link", "delete", link], check=False)
        removed.append(link)
    return removed
