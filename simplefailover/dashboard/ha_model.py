"""What the High Availability page decides, apart from Flask: addresses, choices, jobs, tokens."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from clustersync.api import STRATEGY_NAMES, setup_snippet

from ..config import Config

FIB_TRIE = Path("/proc/net/fib_trie")
IF_INET6 = Path("/proc/net/if_inet6")


def parse_fib_trie(text: str) -> set[str]:
    """IPv4 addresses the kernel delivers locally, from /proc/net/fib_trie (lines '/32 host LOCAL')."""
    found, last = set(), ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif stripped.startswith("/32 host LOCAL") and last:
            found.add(last)
    return found


def parse_if_inet6(text: str) -> set[str]:
    """Global and loopback IPv6 addresses from /proc/net/if_inet6 (link-local ones need a zone: left out)."""
    found = set()
    for line in text.splitlines():
        fields = line.split()
        if not fields or len(fields[0]) != 32:
            continue
        try:
            address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        except ValueError:
            continue
        if not address.is_link_local:
            found.add(str(address))
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def local_addresses(configured: str | None = None) -> list[str]:
    """This host's addresses (loopback included), IPv4 first; the configured one is always listed."""
    found = parse_fib_trie(_read(FIB_TRIE)) | parse_if_inet6(_read(IF_INET6))
    if not found:  # not Linux: what the host name resolves to, and loopback
        try:
            found = {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            found = set()
        found |= {"127.0.0.1", "::1"}
    if configured:
        found.add(configured)  # 127.0.0.0/8 is all local on Linux, yet only 127.0.0.1 is listed
    return sorted(found, key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))


@dataclass(frozen=True)
class Choice:
    """The wizard's answer to "which address, which strategy", checked against config.yaml."""

    address: str
    strategy: str
    problems: tuple[str, ...]
    snippet: str  # the cluster: lines that make config.yaml say what was chosen


def check_choice(config: Config, address: str, strategy: str) -> Choice:
    """Whether config.yaml already says this address and strategy; if not, what to write there."""
    problems: list[str] = []
    try:
        ipaddress.ip_address(address)
    except ValueError:
        problems.append(f"{address!r} is not an IP address")
    if strategy not in STRATEGY_NAMES:
        problems.append(f"strategy must be one of {', '.join(STRATEGY_NAMES)}, not {strategy!r}")
    cluster = config.cluster
    where = config.source or "config.yaml"
    if cluster is None:
        problems.append(f"{where} has no cluster: section yet")
    else:
        if cluster.address is None or str(cluster.address) != address:
            # clustersync run listens on cluster.address: a member recorded elsewhere is unreachable.
            problems.append(f"cluster.address in {where} is {cluster.address or 'not set'}, not {address}")
        if cluster.strategy != strategy:
            problems.append(f"cluster.strategy in {where} is {cluster.strategy}, not {strategy}")
    return Choice(address, strategy, tuple(problems), setup_snippet(address, strategy))


@dataclass(frozen=True)
class Job:
    """One action run in the background (a join), as the page shows it."""

    kind: str
    started: float
    step: str = "starting"
    finished: float | None = None
    ok: bool | None = None
    message: str = ""
    done: int = 0  # bytes (or rows) moved so far, when the action reports it
    total: int = 0
    phases: tuple[str, ...] = ()  # the phases gone through, in order

    @property
    def running(self) -> bool:
        return self.finished is None


@dataclass
class JobBoard:
    """The current or last background action of this dashboard; one at a time."""

    clock: Callable[[], float] = time.time
    _job: Job | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> Job | None:
        with self._lock:
            return self._job

    def begin(self, kind: str) -> Job | None:
        """Start a job; None when one is still running."""
        with self._lock:
            if self._job is not None and self._job.running:
                return None
            self._job = Job(kind, self.clock())
            return self._job

    def step(self, text: str, done: int = 0, total: int = 0, phase: str = "") -> None:
        """Record what the running job does now, and how far it is when known."""
        with self._lock:
            job = self._job
            if job is not None and job.running:
                phases = job.phases if not phase or job.phases[-1:] == (phase,) else (*job.phases, phase)
                self._job = replace(job, step=text, done=done, total=total, phases=phases)

    def finish(self, ok: bool, message: str) -> None:
        with self._lock:
            if self._job is not None:
                self._job = replace(self._job, finished=self.clock(), ok=ok, message=message)


def csrf_token(key: bytes, browser: str) -> str:
    """The form token of one browser: an HMAC of its cookie under this dashboard's random key."""
    return hmac.new(key, b"ha-form:" + browser.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, browser: str | None, token: str | None) -> bool:
    """Whether a posted token belongs to the browser that posts it."""
    if not browser or not token:
        return False
    # As bytes: compare_digest refuses non-ASCII str, and a posted form may hold anything.
    return hmac.compare_digest(csrf_token(key, browser).encode(), token.encode("utf-8", "replace"))
