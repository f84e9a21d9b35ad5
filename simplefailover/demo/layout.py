"""Where the demo cluster lives: addresses, ports, folders, and each node's generated config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ZONE = "imagicle.example.com"
HOSTNAMES = ("ias1", "ias2")  # ias1 follows the app's health page, ias2 its TCP banner


@dataclass(frozen=True)
class Ports:
    """One node's ports (the app's HTTP and banner ports are the same on every node)."""

    dns: int = 5354
    dashboard: int = 8081
    control: int = 52700
    data: int = 52701
    peers: int = 52710


@dataclass(frozen=True)
class Timing:
    """Check and sync intervals, seconds: relaxed for people, short for tests and the chaos drill."""

    interval: float = 5
    retry_interval: float = 1
    timeout: float = 1
    fall: int = 2
    rise: int = 2
    heartbeat: float = 1
    stale_after: float = 5
    sync_interval: float = 1
    sync_retry: float = 3
    sync_timeout: float = 2

    def detection_bound(self) -> float:
        """Longest time a dead app may stay in DNS: one interval, `fall` failed checks, agreement.

        A frozen app costs a full timeout per check; every instance then tells its peers at once,
        and the last one to see it may be one interval plus one heartbeat late.
        """
        checks = self.interval + self.fall * (self.timeout + self.retry_interval)
        return checks + 2 * self.heartbeat


MAX_CLOCK_OFFSET = 15  # cluster.max_clock_offset of every node, seconds

FAST = Timing(interval=1, retry_interval=0.5, timeout=1, heartbeat=0.5, stale_after=3, sync_interval=0.5)


@dataclass(frozen=True)
class DemoNodeSpec:
    """One demo node: id, address, priority, ports and folder."""

    node_id: str
    address: str
    priority: int
    ports: Ports
    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def database(self) -> Path:
        return self.folder / "app.db"


@dataclass(frozen=True)
class Layout:
    """The whole demo cluster: nodes, shared ports, the mail sink and the timing."""

    state_dir: Path
    nodes: tuple[DemoNodeSpec, ...]
    http_port: int = 8080
    banner_port: int = 5060
    mail: tuple[str, int] = ("127.0.0.1", 8025)
    timing: Timing = field(default_factory=Timing)
    # The dashboards' listen host; None: each node's own address. The network drill gives
    # 127.0.0.1: each node is a namespace with a loopback of its own (SPEC SF-6).
    dashboard_host: str | None = None

    @property
    def secret(self) -> Path:
        return self.state_dir / "cluster.secret"

    @property
    def admin_password_file(self) -> Path:
        """The dashboards' administrator password (SF-11), one for every node of the demo."""
        return self.state_dir / "admin.password"

    def detection_bound(self) -> float:
        """Longest time a node stopped whole may stay in DNS in this cluster.

        With two nodes the survivor hears no majority once the other instance died with its
        node: it decides alone when that instance has been silent for stale_after.
        """
        t = self.timing
        if len(self.nodes) > 2:
            return t.detection_bound()
        return t.interval + t.fall * (t.timeout + t.retry_interval) + t.stale_after + t.heartbeat

    def fqdn(self, hostname: str = HOSTNAMES[0]) -> str:
        """A virtual name in the demo zone."""
        return f"{hostname}.{ZONE}"

    def node(self, node_id: str) -> DemoNodeSpec:
        """The node with this id (KeyError names the ids there are)."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(f"no demo node {node_id!r}; the nodes are {', '.join(n.node_id for n in self.nodes)}")

    def config_text(
        self, node: DemoNodeSpec, clock_offset: float = 0, fault_nodes: tuple[str, ...] = ()
    ) -> str:
        """The config file of one node: SimpleFailover with peers, and clustersync.

        `fault_nodes`: this node's instance sees those nodes fail (the chaos drill's cut links).
        """
        t = self.timing
        cut = f"  test_fault_nodes: [{', '.join(fault_nodes)}]  # TEST ONLY: cut\n" if fault_nodes else ""
        nameservers = "\n".join(
            f"    - {{name: ns{i}.{ZONE}, address: {n.address}}}" for i, n in enumerate(self.nodes, start=1)
        )
        nodes = "\n".join(
            f"  - {{id: {n.node_id}, address: {n.address}, priority: {n.priority}}}" for n in self.nodes
        )
        members = "\n".join(
            f'    - {{id: {n.node_id}, address: "{n.address}:{n.ports.peers}"}}' for n in self.nodes
        )
        return f"""\
# Written by `simplefailover demo` for {node.node_id}; it is rewritten at every start.
zone:
  name: {ZONE}
  ttl: 5
  nameservers:
{nameservers}
nodes:
{nodes}
pollings:
  - {{id: web, method: http, url: "http://{{address}}:{self.http_port}/health", expect_status: [200],
     timeout: {t.timeout}}}
  - {{id: banner, method: telnet, port: {self.banner_port}, send: "", expect: ready, timeout: {t.timeout}}}
hostnames:
  - {{name: {HOSTNAMES[0]}, polling: web, when_all_down: all}}
  - {{name: {HOSTNAMES[1]}, polling: banner}}
schedule: {{interval: {t.interval}, retry_interval: {t.retry_interval}, fall: {t.fall}, rise: {t.rise}}}
dns:
  listen: ["{node.address}:{node.ports.dns}"]
dashboard:
  listen: "{self.dashboard_host or node.address}:{node.ports.dashboard}"
  refresh: 5
  admin_password_file: "{self.admin_password_file}"
monitoring:
  notifications: true
  recipients: [ops@example.com]
  smtp: {{host: {self.mail[0]}, port: {self.mail[1]}, security: none, sender: ha@example.com}}
  retries: 2
  retry_delay: 1
history: {{state_dir: history}}
peers:
  id: {node.node_id}
  listen: "{node.address}:{node.ports.peers}"
  heartbeat: {t.heartbeat}
  stale_after: {t.stale_after}
{cut}\
  members:
{members}
cluster:
  node_id: {node.node_id}
  address: {node.address}
  port: {node.ports.control}
  data_port: {node.ports.data}
  secret_file: ../cluster.secret
  strategy: replicated
  database: app.db
  tables: {{replicated: [contacts]}}
  state_dir: clustersync
  sync_interval: {t.sync_interval}
  retry_interval: {t.sync_retry}
  timeout: {t.sync_timeout}
  max_clock_offset: {MAX_CLOCK_OFFSET}
  test_clock_offset: {clock_offset}
"""


def make_layout(
    state_dir: Path,
    addresses: list[str],
    ports: list[Ports] | None = None,
    http_port: int = 8080,
    banner_port: int = 5060,
    mail: tuple[str, int] = ("127.0.0.1", 8025),
    timing: Timing | None = None,
) -> Layout:
    """A layout of nodes node1.. on these addresses, the first with the highest priority."""
    per_node = ports or [Ports() for _ in addresses]
    nodes = tuple(
        DemoNodeSpec(f"node{i}", address, 10 * (len(addresses) - i + 1), p, state_dir / f"node{i}")
        for i, (address, p) in enumerate(zip(addresses, per_node, strict=True), start=1)
    )
    return Layout(state_dir, nodes, http_port, banner_port, mail, timing or Timing())
