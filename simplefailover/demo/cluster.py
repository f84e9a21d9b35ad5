"""The demo cluster launcher: per node the app, `clustersync run` and `simplefailover run`.

The one way to start the demo cluster; `simplefailover demo` and the chaos drill both use it.
Every process is a real child process with its own log under the node's folder.
"""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .contacts import SCHEMA
from .layout import ZONE, DemoNodeSpec, Layout, Ports, Timing, make_layout
from .procs import Child, Launcher, dns_answer, free_port, listening, soa_serial, stop_all, wait_until

logger = logging.getLogger(__name__)

KINDS = ("app", "sync", "failover")
MEMBER_MARK = "member"  # file in a node's folder once create/join succeeded
PORTS_FILE = "ports.json"
LAYOUT_FILE = "layout.json"  # the addresses and ports the members were made with
START_WAIT = 45.0  # seconds a process gets to come up (slow shared machines)


@dataclass
class NodeProcs:
    """One node's three processes."""

    spec: DemoNodeSpec
    children: dict[str, Child] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> Child:
        return self.children[kind]


class DemoCluster:
    """Start, stop and fault the processes of every demo node."""

    def __init__(self, layout: Layout, launcher: Launcher | None = None) -> None:
        self.layout = layout
        self.launcher = launcher or Launcher()
        self.nodes: dict[str, NodeProcs] = {}
        for spec in layout.nodes:
            argvs = {
                "app": self._app_argv(spec),
                "sync": ["-m", "clustersync", "run", "-c", str(spec.config)],
                "failover": ["-m", "simplefailover", "run", "-c", str(spec.config)],
            }
            names = {"app": "app", "sync": "clustersync", "failover": "simplefailover"}
            self.nodes[spec.node_id] = NodeProcs(
                spec,
                {
                    kind: Child(
                        f"{spec.node_id} {names[kind]}",
                        argv,
                        spec.folder / "logs" / f"{names[kind]}.log",
                        spec.folder,
                        self.launcher.command(spec.node_id, argv),
                        self.launcher.env(),
                    )
                    for kind, argv in argvs.items()
                },
            )

    def _app_argv(self, spec: DemoNodeSpec) -> list[str]:
        return [
            "-m", "simplefailover.demo.app", "--id", spec.node_id, "--address", spec.address,
            "--http-port", str(self.layout.http_port), "--banner-port", str(self.layout.banner_port),
            "--database", str(spec.database),
        ]  # fmt: skip

    @property
    def children(self) -> list[Child]:
        """Every child process, apps first."""
        return [n[kind] for kind in KINDS for n in self.nodes.values()]

    def write_configs(self, clock_offsets: dict[str, float] | None = None) -> None:
        """Write every node's config file (a clock offset only where given)."""
        offsets = clock_offsets or {}
        for spec in self.layout.nodes:
            spec.folder.mkdir(parents=True, exist_ok=True)
            spec.config.write_text(self.layout.config_text(spec, offsets.get(spec.node_id, 0)))

    def write_config(self, node_id: str, clock_offset: float = 0, fault_nodes: tuple[str, ...] = ()) -> None:
        """Rewrite one node's config (the chaos drill's clock offsets and cut links).

        Read at the next start, or at once by a reload (SIGHUP) of its simplefailover.
        """
        spec = self.nodes[node_id].spec
        spec.config.write_text(self.layout.config_text(spec, clock_offset, fault_nodes))

    def heal_all(self) -> None:
        """Continue every stopped process and start every one that is not running; wait until up."""
        for child in self.children:
            if child.stopped:
                child.signal(signal.SIGCONT)
        for kind in ("sync", "app", "failover"):
            for node_id, node in self.nodes.items():
                if not node[kind].running:
                    self.start_process(node_id, kind, wait=False)
            for node_id in self.nodes:
                self.start_process(node_id, kind)

    def start(self) -> None:
        """Bring the whole cluster up: create/join once, then every process; wait until DNS answers."""
        busy = self.busy_ports()
        if busy:
            raise RuntimeError(f"already in use (another demo running?): {', '.join(busy)}")
        self._check_same_layout()
        self.write_configs()
        first, *others = self.layout.nodes
        for spec in self.layout.nodes:
            with sqlite3.connect(spec.database) as db:  # the app's table, before clustersync captures it
                db.execute(SCHEMA)
            db.close()
        if not (first.folder / MEMBER_MARK).exists():
            self._clustersync(first, "create")
        self.start_process(first.node_id, "sync")
        for spec in others:
            if not (spec.folder / MEMBER_MARK).exists():
                self._clustersync(spec, "join", "--peer", f"{first.address}:{first.ports.control}")
        for spec in others:  # together, so nobody starts by failing over around a late member
            self.start_process(spec.node_id, "sync", wait=False)
        for spec in others:
            self.start_process(spec.node_id, "sync")
        for kind in ("app", "failover"):  # all at once: an instance alone would wait for a majority
            for spec in self.layout.nodes:
                self.start_process(spec.node_id, kind, wait=False)
            for spec in self.layout.nodes:
                self.start_process(spec.node_id, kind)

    def _check_same_layout(self) -> None:
        # The members know each other by address and port: a folder made for other ones
        # would start a cluster whose members cannot reach each other.
        record = self.layout.state_dir / LAYOUT_FILE
        mine = [[n.node_id, n.address, asdict(n.ports)] for n in self.layout.nodes]
        if record.exists() and json.loads(record.read_text()) != mine:
            raise RuntimeError(
                f"{self.layout.state_dir} holds a cluster made for other addresses or ports;"
                " start with --fresh (its data is deleted) or give another --state-dir"
            )
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(mine))

    def busy_ports(self) -> list[str]:
        """The TCP addresses of the layout that something already listens on."""
        wanted = []
        for spec in self.layout.nodes:
            ports = spec.ports
            for port in (self.layout.http_port, self.layout.banner_port, ports.dns, ports.dashboard):
                wanted.append((spec.address, port))
            wanted += [(spec.address, ports.control), (spec.address, ports.data)]
        return [f"{host}:{port}" for host, port in wanted if listening(host, port)]

    def _clustersync(self, spec: DemoNodeSpec, *args: str) -> None:
        done = subprocess.run(
            self.launcher.command(spec.node_id, ["-m", "clustersync", *args, "-c", str(spec.config)]),
            cwd=spec.folder, capture_output=True, text=True, timeout=120, env=self.launcher.env(),
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"clustersync {args[0]} on {spec.node_id} failed:\n{done.stderr or done.stdout}"
            )
        (spec.folder / MEMBER_MARK).write_text(done.stdout)

    def start_process(self, node_id: str, kind: str, wait: bool = True) -> None:
        """Start one process of one node (from the main thread) and wait until it serves."""
        node = self.nodes[node_id]
        child = node[kind]
        child.start()
        if not wait:
            return
        spec = node.spec
        if kind == "app":
            port = self.layout.http_port
            wait_until(lambda: listening(spec.address, port), START_WAIT, f"{child.name} listening", child)
        elif kind == "sync":
            wait_until(
                lambda: all(listening(spec.address, p) for p in (spec.ports.control, spec.ports.data)),
                START_WAIT,
                f"{child.name} listening",
                child,
            )
        else:
            fqdn = self.layout.fqdn()
            wait_until(
                lambda: dns_answer(spec.address, spec.ports.dns, fqdn),
                START_WAIT,
                f"{child.name} answering",
                child,
            )

    def stop_process(self, node_id: str, kind: str) -> None:
        """Stop one process of one node cleanly (SIGTERM, then SIGKILL after a bounded wait)."""
        stop_all([self.nodes[node_id][kind]])

    def stop_node(self, node_id: str) -> None:
        """Stop all three processes of a node, as when the machine goes down."""
        stop_all(self.nodes[node_id].children.values())

    def start_node(self, node_id: str) -> None:
        """Start a node's processes again: clustersync, the app, SimpleFailover."""
        for kind in ("sync", "app", "failover"):
            self.start_process(node_id, kind)

    def stop(self) -> list[str]:
        """Stop everything; the names of processes that had to be killed."""
        return stop_all(self.children)

    def answers(self) -> dict[str, tuple[str, ...] | None]:
        """What every node's DNS responder answers for the first virtual name."""
        fqdn = self.layout.fqdn()
        return {s.node_id: dns_answer(s.address, s.ports.dns, fqdn) for s in self.layout.nodes}

    def serials(self) -> dict[str, int | None]:
        """Every node's SOA serial for the zone."""
        return {s.node_id: soa_serial(s.address, s.ports.dns, ZONE) for s in self.layout.nodes}

    def contacts(self, node_id: str) -> list[tuple[str, str, str, float]]:
        """A node's contacts table as it is on disk, sorted by id."""
        database: Path = self.nodes[node_id].spec.database
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT id, name, phone, created FROM contacts ORDER BY id").fetchall()
        finally:
            db.close()
        return [(str(i), str(n), str(p), float(c)) for i, n, p, c in rows]


def free_layout(state_dir: Path, addresses: list[str], timing: Timing | None = None) -> Layout:
    """A layout on free ports (tests, the chaos drill), so nothing collides with a running demo.

    The ports are kept in state_dir/ports.json: the members know each other by address and port,
    so a demo started again on the same folder must use the same ones.
    """
    saved = state_dir / PORTS_FILE
    if saved.exists():
        data = json.loads(saved.read_text())
        if data["addresses"] == addresses:
            ports = [Ports(**p) for p in data["nodes"]]
            mail = (str(data["mail"][0]), int(data["mail"][1]))
            return make_layout(state_dir, addresses, ports, data["http"], data["banner"], mail, timing)
    taken: set[int] = set()
    ports = [
        Ports(
            dns=free_port([a], True, taken), dashboard=free_port([a], False, taken),
            control=free_port([a], False, taken), data=free_port([a], False, taken),
            peers=free_port([a], True, taken),
        )
        for a in addresses
    ]  # fmt: skip
    http, banner = free_port(addresses, False, taken), free_port(addresses, False, taken)
    mail = (addresses[0], free_port(addresses[:1], False, taken))
    state_dir.mkdir(parents=True, exist_ok=True)
    if saved.exists():  # made for other addresses: DemoCluster.start refuses it, keep the record
        return make_layout(state_dir, addresses, ports, http, banner, mail, timing)
    record = {
        "addresses": addresses, "nodes": [asdict(p) for p in ports], "http": http, "banner": banner,
        "mail": list(mail),
    }  # fmt: skip
    saved.write_text(json.dumps(record, indent=1))
    return make_layout(state_dir, addresses, ports, http, banner, mail, timing)
