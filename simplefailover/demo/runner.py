"""`simplefailover demo`: a cluster of N nodes (default three, on 127.0.0.11-13), and what to try with it."""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .cluster import KINDS, DemoCluster, free_layout
from .layout import FAST, ZONE, Layout, make_layout
from .mailsink import MailSink

logger = logging.getLogger(__name__)

FIRST_ADDRESS = 11  # node K listens on 127.0.0.(10 + K) unless --addresses says otherwise
DEFAULT_NODES = 3
HELP = """\
Type: stop NODE [app|sync|failover] | start NODE [...] | answers | status | help | quit   (or Ctrl-C)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options (tests move it to other addresses, free ports and a folder of their own)."""
    parser.add_argument("--state-dir", type=Path, default=Path("demo-data"), help="configs, databases, logs")
    parser.add_argument(
        "--nodes",
        type=int,
        default=None,
        help=f"how many nodes, 2 or more (default {DEFAULT_NODES}, or as many as --addresses)",
    )
    parser.add_argument(
        "--addresses",
        default=None,
        help="comma-separated loopback addresses, one per node (default 127.0.0.11, .12, ...)",
    )
    parser.add_argument("--free-ports", action="store_true", help="free ports instead of the documented ones")
    parser.add_argument("--fast", action="store_true", help="short check and sync intervals")
    parser.add_argument("--fresh", action="store_true", help="delete the state dir first (data included)")


def build_layout(args: argparse.Namespace) -> Layout:
    """The layout the options describe."""
    addresses = demo_addresses(args.nodes, args.addresses)
    state_dir = args.state_dir.resolve()
    if args.fresh:  # before the layout: free ports must not come from the old ports.json
        shutil.rmtree(state_dir, ignore_errors=True)
    timing = FAST if args.fast else None
    if args.free_ports:
        return free_layout(state_dir, addresses, timing)
    return make_layout(state_dir, addresses, timing=timing)


def demo_addresses(nodes: int | None, addresses: str | None) -> list[str]:
    """The node addresses from --nodes and --addresses; ValueError saying what is wrong."""
    if nodes is not None and nodes < 2:
        raise ValueError(f"--nodes: 2 or more, got {nodes}")
    if addresses is None:
        count = nodes or DEFAULT_NODES
        if FIRST_ADDRESS + count > 255:
            raise ValueError(f"--nodes: at most {255 - FIRST_ADDRESS} without --addresses")
        return [f"127.0.0.{FIRST_ADDRESS + i}" for i in range(count)]
    listed = [a.strip() for a in addresses.split(",") if a.strip()]
    bad = [a for a in listed if not a.startswith("127.")]
    if bad or len(listed) < 2:
        raise ValueError(f"--addresses: two or more 127.x.y.z addresses, got {addresses!r}")
    if nodes is not None and nodes != len(listed):
        raise ValueError(f"--nodes {nodes} but --addresses lists {len(listed)}")
    return listed


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo exactly as Ctrl-C does


def run_demo(args: argparse.Namespace) -> int:
    """Start the cluster, print what to try, take commands on stdin until quit, Ctrl-C or SIGTERM."""
    try:
        layout = build_layout(args)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    # Explicitly: a demo started in the background of a script inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    cluster = DemoCluster(layout)
    stopping = threading.Event()  # mails about the demo's own shutdown are noise: not shown

    def show(line: str) -> None:
        if not stopping.is_set():
            print(line, flush=True)

    sink = MailSink(*layout.mail, show=show)
    code = 0
    try:
        try:
            sink.start()
        except (OSError, RuntimeError) as exc:  # something else listens there: let it have the mail
            print(f"no mail sink on {sink.address} ({exc}); alert mails go to whatever listens there")
            sink = None  # type: ignore[assignment]
        count, logs = len(layout.nodes), f"{layout.state_dir}/NODE/logs"
        print(f"starting {count} x (app, clustersync, simplefailover); logs in {logs} ...")
        cluster.start()
        print(intro(layout), flush=True)
        print(_admin_password(layout), flush=True)
        _command_loop(cluster)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping the demo ...", flush=True)
        stopping.set()
        killed = cluster.stop()
        if sink is not None:
            sink.stop()
        print(f"stopped{' (killed: ' + ', '.join(killed) + ')' if killed else ''}", flush=True)
    return code


def intro(layout: Layout) -> str:
    """What to try, for the person who started the demo."""
    first, second, last = layout.nodes[0], layout.nodes[1], layout.nodes[-1]
    others = [n.node_id for n in layout.nodes[1:]]
    survivors = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} and {others[-1]}"
    app = f"http://{{}}:{layout.http_port}"
    lines = [f"SimpleFailover demo: zone {ZONE}, state and logs in {layout.state_dir}"]
    for n in layout.nodes:
        lines.append(
            f"  {n.node_id}  {n.address}  priority {n.priority:<3} app {app.format(n.address)}/  "
            f"dashboard http://{n.address}:{n.ports.dashboard}/  DNS {n.address} port {n.ports.dns}"
        )
    lines += [
        "Try:",
        f"  dig @{first.address} -p {first.ports.dns} {layout.fqdn()} +short"
        f"      # {first.address}: {first.node_id} has the highest priority"
        " (every node's DNS answers the same)",
        f"  open http://{first.address}:{first.ports.dashboard}/ (every node has its dashboard;"
        f" /ha: the cluster's members and alarms)",
        f"  curl -s http://{first.address}:{first.ports.control}/status"
        f"      # clustersync's alarms; or: {_clustersync()} status -c {_shown(first.config)}",
        f"  curl -s -X POST -H 'Content-Type: application/json' -d '{{\"name\": \"Ada\"}}' "
        f"{app.format(first.address)}/api/contacts      # add a contact on {first.node_id}",
        f"  curl -s {app.format(last.address)}/api/contacts"
        f"      # read it on {last.node_id} (or open {app.format(first.address)}/ in a browser)",
        f"  stop {first.node_id}      # type it here: its app, clustersync and simplefailover stop",
        f"  dig @{second.address} -p {second.ports.dns} {layout.fqdn()} +short"
        f"      # {second.address} within ~{layout.detection_bound():.0f} s;"
        f" the contacts stay on {survivors}",
        f"  start {first.node_id}     # it catches up what was added meanwhile; the name moves back",
        f"  stop {first.node_id} app  # only the application; answers | status | quit (or Ctrl-C)",
        f"  alert mails are printed here as [mail to ...] "
        f"(a local SMTP sink on {layout.mail[0]}:{layout.mail[1]})",
    ]
    return "\n".join(lines)


def _admin_password(layout: Layout) -> str:
    """Write a new administrator password for the dashboards' actions (SF-11); the line to print."""
    from ..control.store import write_private
    from ..dashboard.login import admin_file_text

    password, token = secrets.token_urlsafe(9), secrets.token_urlsafe(18)
    write_private(layout.admin_password_file, admin_file_text(password, token).encode())
    return (
        f"  dashboard administrator (maintenance, pins, the HA page's actions): password {password}, "
        f"API token {token}"
    )


def _clustersync() -> str:
    """How to call clustersync from here: the venv's script when there is one."""
    script = Path(sys.executable).parent / "clustersync"
    return _shown(script) if script.exists() else "clustersync"


def _shown(path: Path) -> str:
    """A path as short as it can be said from here."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _command_loop(cluster: DemoCluster) -> None:
    print(HELP, flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] in ("quit", "exit"):
            return
        try:
            print(_command(cluster, words), flush=True)
        except (RuntimeError, TimeoutError, OSError) as exc:
            print(f"{' '.join(words)}: {exc}", flush=True)
    # stdin closed (no terminal): keep running until Ctrl-C or SIGTERM
    stop = threading.Event()
    while not stop.wait(3600):
        pass


def _command(cluster: DemoCluster, words: list[str]) -> str:
    verb, *rest = words
    if verb in ("stop", "start"):
        if not rest or rest[0] not in cluster.nodes:
            return f"which node? one of {', '.join(cluster.nodes)}"
        node, kinds = rest[0], rest[1:] or list(KINDS)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            return f"{', '.join(unknown)}: not one of {', '.join(KINDS)}"
        if verb == "stop":
            for kind in kinds:
                cluster.stop_process(node, kind)
            return f"{node}: stopped {', '.join(kinds)}; watch the answer move (answers)"
        for kind in ("sync", "app", "failover"):
            if kind in kinds:
                cluster.start_process(node, kind)
        rise = cluster.layout.timing.rise
        return f"{node}: started {', '.join(kinds)}; it is back in DNS once OK {rise} times"
    if verb == "answers":
        return "\n".join(
            f"  {node}'s DNS: {cluster.layout.fqdn()} -> {', '.join(a) if a else '(no answer)'}"
            for node, a in cluster.answers().items()
        )
    if verb == "status":
        lines = []
        for node_id, procs in cluster.nodes.items():
            state = ", ".join(f"{kind} {'running' if procs[kind].running else 'stopped'}" for kind in KINDS)
            lines.append(f"  {node_id}: {state}")
        return "\n".join(lines)
    return HELP
