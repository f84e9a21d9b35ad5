"""Real `simplefailover run` instances and real node applications on 127.0.15.x, and the faults.

Node nK's application and instance share the address 127.0.15.(10+K), as on one host; a
witness (no DNS: `dns.listen: []`) runs on 127.0.15.30. Faults are real: kill -9 and SIGSTOP of processes, and
iptables DROP rules on loopback in a chain of our own (SF15-agree), matched on our
addresses and ports only, removed by `Firewall.close` whatever happens.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from simplefailover.chaos.firewall import Firewall
from tests.support.bind import free_port

from .cluster import FQDN, ZONE, Instance, wait_for

SUBNET = "127.0.15.0/24"
WITNESS_HOST = "127.0.15.30"
SMTP_HOST = "127.0.15.1"
# 1 s intervals, and short timeouts so a row lasts seconds: detection bound
# interval + fall x (timeout + retry_interval) + stale_after = 1 + 2 x (0.5 + 0.5) + 2 = 5 s.
INTERVAL, TIMEOUT, RETRY, FALL, RISE, HEARTBEAT, STALE = 1.0, 0.5, 0.5, 2, 2, 0.5, 2.0
BOUND = INTERVAL + FALL * (TIMEOUT + RETRY) + STALE
ROOT = Path(__file__).resolve().parents[3]


def node_host(index: int) -> str:
    """The address of node n{index} (1-based), its application and its instance."""
    return f"127.0.15.{10 + index}"


def firewall() -> Firewall:
    """Our chain for the agreement tests: packets from or to 127.0.15.0/24 only."""
    return Firewall("SF15-agree", (["-d", SUBNET], ["-s", SUBNET]))


@dataclass
class Member:
    """One peers member: its instance and, unless it is the witness, its node's application."""

    id: str
    host: str
    witness: bool
    instance: Instance
    poll_port: int  # the port of every node application this instance polls
    app: subprocess.Popen[bytes] | None = None
    stopped: bool = False

    @property
    def address(self) -> str:
        return self.host


class Topology:
    """N nodes, each with its application and its instance, and an optional witness instance."""

    def __init__(self, base: Path, nodes: int, witness: bool, smtp_port: int, firewall: Firewall) -> None:
        self.base = base
        self.firewall = firewall
        self.smtp_port = smtp_port
        self.secret = base / "peers.secret"
        self.secret.write_text(secrets.token_hex(32))
        hosts = [(f"n{i}", node_host(i), False) for i in range(1, nodes + 1)]
        if witness:
            hosts.append(("w", WITNESS_HOST, True))
        self.members: list[Member] = []
        for member_id, host, is_witness in hosts:
            folder = base / member_id
            folder.mkdir()
            instance = Instance(
                member_id,
                host,
                free_port(host),
                free_port(host),
                free_port(host),
                folder / "config.yaml",
                folder / "log.txt",
            )
            self.members.append(Member(member_id, host, is_witness, instance, free_port(node_host(1))))
        for member in self.members:
            member.instance.config_path.write_text(self.config_text(member))

    @property
    def nodes(self) -> list[Member]:
        return [m for m in self.members if not m.witness]

    def member(self, member_id: str) -> Member:
        return next(m for m in self.members if m.id == member_id)

    def config_text(self, member: Member) -> str:
        nodes = "\n".join(
            f"  - {{id: {n.id}, address: {n.host}, priority: {100 - i}}}" for i, n in enumerate(self.nodes)
        )
        peers = "\n".join(
            f"    - {{id: {m.id}, address: '{m.host}:{m.instance.peer_port}'"
            + (", role: witness}" if m.witness else "}")
            for m in self.members
        )
        i = member.instance
        return f"""zone:
  name: {ZONE}
  nameservers: [{{name: ns1.{ZONE}, address: {node_host(1)}}}]
nodes:
{nodes}
pollings:
  - {{id: web, method: http, url: "http://{{address}}:{member.poll_port}/login",
     expect_body: Login, timeout: {TIMEOUT}}}
hostnames:
  - {{name: ias, polling: web}}
schedule: {{interval: {INTERVAL}, retry_interval: {RETRY}, fall: {FALL}, rise: {RISE}}}
dns: {{listen: {"[]" if member.witness else f'["{i.host}:{i.dns_port}"]'}}}
dashboard: {{listen: "{i.host}:{i.web_port}"}}
monitoring:
  notifications: true
  recipients: [ops@{ZONE}]
  smtp: {{host: {SMTP_HOST}, port: {self.smtp_port}, security: none, sender: ha@{ZONE}}}
  retry_delay: 0.2
peers:
  id: {member.id}
  listen: "{i.host}:{i.peer_port}"
  secret_file: {self.secret}
  heartbeat: {HEARTBEAT}
  stale_after: {STALE}
  members:
{peers}
"""

    # ------------------------------------------------------------ processes

    def start(self) -> None:
        ports = [str(m.poll_port) for m in self.members]
        for node in self.nodes:
            node.app = subprocess.Popen(
                [sys.executable, "-m", "tests.simplefailover.peers.nodeapp", node.host, *ports],
                stdout=subprocess.PIPE,
                cwd=ROOT,
            )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for member in self.members:
            i = member.instance
            with i.log_path.open("wb") as log:
                i.process = subprocess.Popen(
                    [sys.executable, "-m", "simplefailover", "run", "-c", str(i.config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
        for node in self.nodes:
            assert node.app is not None and node.app.stdout is not None
            assert node.app.stdout.readline().strip() == b"ready", f"{node.id} application did not start"
        first = (self.nodes[0].host,)
        everyone = {m.id for m in self.members}
        for member in self.members:
            i = member.instance
            ready = lambda m=member: m.instance.status()["ready"] and self.answer(m) == first  # noqa: E731
            wait_for(f"{i.member} ready on n1", ready, 30)
            wait_for(f"{i.member} hears all", lambda i=i: set(i.status()["peers"]["heard"]) == everyone, 30)

    def stop(self) -> None:
        processes = [m.instance.process for m in self.members] + [m.app for m in self.nodes]
        for process in processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
        for process in processes:
            if process is not None:
                process.wait(10)

    def kill_app(self, member_id: str) -> None:
        app = self.member(member_id).app
        assert app is not None
        app.kill()
        app.wait(5)

    def kill_instance(self, member_id: str) -> None:
        member = self.member(member_id)
        assert member.instance.process is not None
        member.instance.process.kill()
        member.instance.process.wait(5)
        member.stopped = True

    def freeze_instance(self, member_id: str) -> None:
        member = self.member(member_id)
        assert member.instance.process is not None
        member.instance.process.send_signal(signal.SIGSTOP)
        member.stopped = True

    def kill_whole(self, member_id: str) -> None:
        """The node's machine stops: its application and its instance, at once."""
        self.kill_app(member_id)
        self.kill_instance(member_id)

    # ------------------------------------------------------------ network cuts

    def cut_peers(self, frm: str, to: str, both: bool = True) -> None:
        """Drop the peer messages from `frm`'s instance to `to`'s (and back when both)."""
        a, b = self.member(frm), self.member(to)
        self.firewall.drop("-s", a.host, "-d", b.host, "-p", "udp", "--dport", str(b.instance.peer_port))
        if both:
            self.cut_peers(to, frm, both=False)

    def cut_node(self, instance: str, node: str, replies: bool = False) -> None:
        """Drop `instance`'s polls of `node`'s application: the requests, or only the replies."""
        port, host = str(self.member(instance).poll_port), self.member(node).host
        if replies:
            self.firewall.drop("-s", host, "-p", "tcp", "--sport", port)
        else:
            self.firewall.drop("-d", host, "-p", "tcp", "--dport", port)

    def split(self, a: str, b: str) -> None:
        """Hosts a and b cut from each other: instances both ways, and each from the other's node."""
        self.cut_peers(a, b)
        self.cut_node(a, b)
        self.cut_node(b, a)

    # ------------------------------------------------------------ observing

    def alive(self) -> list[Member]:
        return [m for m in self.members if not m.stopped]

    def answers(self) -> dict[str, tuple[str, ...]]:
        """What each running instance's DNS answers for the hostname (the witness serves no DNS:
        what its /api/status says it would answer)."""
        return {m.id: self.answer(m) for m in self.alive()}

    @staticmethod
    def answer(member: Member) -> tuple[str, ...]:
        if member.witness:
            return tuple(sorted(member.instance.status()["hostnames"][0]["addresses"]))
        return member.instance.answer(FQDN)[0]

    def logs(self) -> str:
        return "\n".join(
            f"----- {m.id}\n{m.instance.log_path.read_text(errors='replace')[-3000:]}" for m in self.members
        )
