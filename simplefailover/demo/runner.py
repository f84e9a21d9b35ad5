"""`simplefailover demo`: demo nodes on 127.0.0.11-13 and the service watching them."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

from ..config import Config, load_config
from ..daemon import Daemon
from ..errors import ConfigError
from .mailsink import MailSink
from .nodes import DemoNode, demo_nodes

logger = logging.getLogger(__name__)

HELP = """\
Commands: stop NODE | start NODE | status | help | quit   (Ctrl-C also quits)
"""


def run_demo(config_path: str) -> int:
    """Start the demo nodes and the service; take commands on stdin until quit."""
    path = Path(config_path)
    if not path.exists():
        print(f"{path}: not found (run from the repository root, or pass -c)", file=sys.stderr)
        return 2
    try:
        config = load_config(path)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    sink = _mail_sink(config)
    nodes = demo_nodes(config)
    for node in nodes:
        node.start()
    daemon = Daemon(path, config)
    daemon.start()
    print(intro(config))
    if sink is not None:
        print(f"  mail:      alerts are printed here (a local SMTP server on {sink.address})")
    print(HELP)
    try:
        _command_loop(nodes, daemon)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the demo ...")
        daemon.stop()
        for node in nodes:
            node.stop()
        if sink is not None:
            sink.stop()
    return 0


def _mail_sink(config: Config) -> MailSink | None:
    """Receive the demo's mail locally when the config sends it to a loopback SMTP server."""
    smtp = config.monitoring.smtp
    if not config.monitoring.notifications or smtp.security != "none" or not smtp.host.startswith("127."):
        return None
    sink = MailSink(smtp.host, smtp.port)
    try:
        sink.start()
    except (OSError, RuntimeError) as exc:  # something else already listens there: let it have the mail
        logger.info("no demo mail sink on %s: %s", sink.address, exc)
        return None
    return sink


def intro(config: Config) -> str:
    """What to try, for the person who started the demo."""
    lines = [f"SimpleFailover demo: zone {config.zone.name}"]
    for node in config.nodes:
        lines.append(f"  node {node.id:<6} {node.address}  priority {node.priority}")
    if config.dns.listen:
        host, port = config.dns.addresses()[0]
        fqdn = config.fqdn(config.hostnames[0])
        lines.append(f"  resolve:   dig @{host} -p {port} {fqdn}")
    if config.dashboard.enabled:
        host, port = config.dashboard.address()
        lines.append(f"  dashboard: http://{'localhost' if host.startswith('127.') else host}:{port}/")
    lines.append(f"  table:     simplefailover check -c {config.source}")
    return "\n".join(lines)


def _command_loop(nodes: list[DemoNode], daemon: Daemon) -> None:
    by_id = {n.node.id: n for n in nodes}
    stop = threading.Event()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        verb, *rest = words
        target = by_id.get(rest[0]) if rest else None
        if verb in ("quit", "exit"):
            return
        if verb in ("stop", "start") and target is None:
            print(f"which node? one of {', '.join(by_id)}")
        elif verb == "stop" and target:
            target.stop()
            print(f"{target.node.id} stopped; watch the answer move")
        elif verb == "start" and target:
            target.start()
            print(f"{target.node.id} started; it fails back once it is OK again")
        elif verb == "status":
            table = daemon.engine.table
            for fqdn, answer in table.answers.items():
                print(f"{fqdn} -> {', '.join(answer.addresses) or '(none)'} (serial {table.serial})")
        else:
            print(HELP)
    # stdin closed (no terminal): keep running until Ctrl-C or SIGTERM
    stop.wait()
