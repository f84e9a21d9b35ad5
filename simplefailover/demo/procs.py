"""Child processes of the demo: started in their own session, stopped with bounded waits."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query

from habase.ports import free_port as free_port  # the launchers' port chooser, imported from here

logger = logging.getLogger(__name__)

STOP_WAIT = 8.0  # seconds a child gets to stop on SIGTERM before SIGKILL
_PR_SET_PDEATHSIG = 1


try:
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM when the thread that started it ends, so even a demo
    # killed with -9 leaves nothing behind. Children are only started from the main thread.
    # Looked up before the fork: between fork and exec nothing may take a lock.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_env() -> dict[str, str]:
    """The environment of a child: unbuffered output, this source tree first on the path."""
    # Children run from their node's folder: they must import this very copy of the code.
    source = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


@dataclass(frozen=True)
class Launcher:
    """How a node's processes start: this checkout's Python by default.

    The network drill gives the installed product's Python (no path to the checkout) and
    each node's network namespace (`ip netns exec`, which execs: the pid is the process's).
    """

    python: str = sys.executable
    namespaces: Mapping[str, str] = field(default_factory=dict)  # node id -> `ip netns` name
    installed: bool = False  # True: the installed package, not this checkout

    def command(self, node_id: str, argv: Sequence[str]) -> list[str]:
        """The full command line of `python argv...` for one node."""
        namespace = self.namespaces.get(node_id)
        prefix = ["ip", "netns", "exec", namespace] if namespace else []
        return [*prefix, self.python, *argv]

    def env(self) -> dict[str, str]:
        """The children's environment."""
        if not self.installed:
            return child_env()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        return {**env, "PYTHONUNBUFFERED": "1"}


class Child:
    """One child process (app, clustersync or SimpleFailover of one node) and its log file."""

    def __init__(
        self, name: str, argv: list[str], log: Path, cwd: Path, command: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self.argv = argv
        self.command = command or [sys.executable, *argv]  # argv with the Python (and namespace)
        self.env = env
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False  # SIGSTOPped

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running and self.proc else None

    def start(self) -> None:
        """Start it unless it runs; its output goes to its log file."""
        if self.running:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env if self.env is not None else child_env(),
                start_new_session=True,  # Ctrl-C reaches the demo only; it stops children in order
                preexec_fn=_die_with_parent,
            )
        self.stopped = False

    def signal(self, signum: int) -> None:
        """Send a signal if it runs (SIGSTOP/SIGCONT tracked)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signum)
            except ProcessLookupError:
                return
            if signum == signal.SIGSTOP:
                self.stopped = True
            elif signum in (signal.SIGCONT, signal.SIGKILL):
                self.stopped = False

    def kill(self) -> None:
        """kill -9 and reap."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(STOP_WAIT)

    def tail(self, lines: int = 15) -> str:
        """The end of its log."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop_all(children: Iterable[Child], wait: float = STOP_WAIT) -> list[str]:
    """SIGTERM every running child, wait up to `wait` s in all, SIGKILL the rest; their names."""
    running = [c for c in children if c.running]
    for child in running:
        child.signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + wait
    killed = []
    for child in running:
        assert child.proc is not None
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.signal(signal.SIGUSR1)  # clustersync run writes every thread's stack to its log
            time.sleep(0.5)  # bounded: the dump is written at once, or never
            logger.warning("%s did not stop within %g s: killing it; its log ends:\n%s", child.name, wait,
                           child.tail(60))  # fmt: skip
            killed.append(child.name)
            child.kill()
    return killed


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def dns_answer(host: str, port: int, name: str, timeout: float = 0.5) -> tuple[str, ...] | None:
    """The sorted A addresses a DNS server gives for name; None when it does not answer."""
    try:
        reply = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=timeout)
    except (OSError, dns.exception.DNSException):
        return None
    if reply.rcode() != 0:
        return None
    return tuple(sorted(str(r) for rrset in reply.answer for r in rrset if r.rdtype == 1))


def soa_serial(host: str, port: int, zone: str, timeout: float = 0.5) -> int | None:
    """The SOA serial a DNS server gives for zone; None when it does not answer."""
    try:
        reply = dns.query.udp(dns.message.make_query(zone, "SOA"), host, port=port, timeout=timeout)
    except (OSError, dns.exception.DNSException):
        return None
    serials = [int(r.serial) for rrset in reply.answer for r in rrset if r.rdtype == 6]
    return serials[0] if serials else None


def wait_until(
    condition: Callable[[], object], seconds: float, what: str, child: Child | None = None
) -> None:
    """Poll a condition until true; raise TimeoutError saying what, with the child's log tail."""
    deadline = time.monotonic() + seconds
    while not condition():
        if child is not None and child.proc is not None and child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited ({child.proc.returncode}):\n{child.tail()}")
        if time.monotonic() > deadline:
            tail = f":\n{child.tail()}" if child is not None else ""
            raise TimeoutError(f"timed out after {seconds:g} s waiting for {what}{tail}")
        time.sleep(0.1)
