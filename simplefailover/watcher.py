"""Between polls, watch an idle TCP connection to each node's polled port (SPEC SF-2).

A killed or stopped service closes its connections (FIN or RST) and its listening
socket. One thread with one selector (epoll) holds an idle connection per (address,
port) and reacts within milliseconds:

- the connection closes: connect again at once. Refused (or failing otherwise): the
  service is gone, so every check of that port is asked to run now. Accepted: the
  server only closed an idle connection (a keep-alive or header timeout, a worker
  recycled), nothing to check. A connection closed again within QUICK seconds waits
  before the next attempt, doubling from `confirm_interval` up to `retry_interval`.
- a connect fails: try again with the same backoff; the first success after failures
  asks for a check too (the node is back; `rise` still decides when it counts as OK).

Bytes the server sends (a banner) are read and dropped. Frozen and vanished hosts send
nothing: the polls find them. Nothing here blocks: triggers only mark a check due.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config import Config, DnsPolling, HttpPolling, Node, SipPolling, TcpPolling, format_hostport

logger = logging.getLogger(__name__)

Trigger = Callable[[str, str, str], object]  # (node id, polling id, reason)
Address = tuple[str, int]
QUICK = 1.0  # seconds: a connection closed sooner than this makes the next attempt wait


def watch_address(polling: object, node: Node) -> Address | None:
    """The TCP (address, port) a polling connects to on node; None for kinds not watched.

    Watched: http(s), telnet/tcp, sip over tcp or tls, dns over tcp. Not watched: UDP
    (nothing to hold open) and commands.
    """
    if isinstance(polling, TcpPolling):
        return str(node.address), polling.port
    if isinstance(polling, SipPolling):
        if polling.transport == "udp":
            return None
        return str(node.address), polling.port or (5061 if polling.transport == "tls" else 5060)
    if isinstance(polling, DnsPolling):
        return (str(node.address), polling.port) if polling.transport == "tcp" else None
    if isinstance(polling, HttpPolling):
        url = urlsplit(polling.url.format(address=node.url_host))
        try:
            port = url.port
        except ValueError:
            return None
        host = (url.hostname or "").strip("[]")
        if host != str(node.address):  # the URL names another host: not this node's port
            return None
        return host, port or (443 if url.scheme == "https" else 80)
    return None


def targets(config: Config) -> dict[Address, tuple[tuple[str, str], ...]]:
    """Every watched (address, port) with the (node id, polling id) checks it stands for."""
    out: dict[Address, list[tuple[str, str]]] = {}
    for polling in config.pollings:
        for node in config.nodes:
            address = watch_address(polling, node)
            if address is not None:
                out.setdefault(address, []).append((node.id, polling.id))
    return {address: tuple(checks) for address, checks in out.items()}


@dataclass
class _Watch:
    """One watched port: its socket (connecting or connected) or the time of the next attempt."""

    address: Address
    checks: tuple[tuple[str, str], ...]
    sock: socket.socket | None = None
    connected: bool = False
    since: float = 0.0  # connect started, or connection established
    retry_at: float = 0.0
    failures: int = 0  # connects failed in a row
    quick: int = 0  # connections closed by the server within QUICK seconds, in a row
    probing: bool = False  # this connect follows a close: refused means the service is gone
    paused: bool = False  # released while a check timed out: not reconnected until resumed
    trusted: bool = False  # a check succeeded while this port was watched
    excluded: bool = False  # the server stalls while an idle connection is held: never watched


class ConnectionWatcher:
    """One thread watching idle connections to every polled port; see the module text."""

    def __init__(
        self, trigger: Trigger, confirm_interval: float, retry_interval: float, timeout: float
    ) -> None:
        self._trigger = trigger
        self._first_delay = confirm_interval
        self._max_delay = retry_interval
        self._timeout = timeout
        self._selector = selectors.DefaultSelector()
        self._watches: dict[Address, _Watch] = {}
        self._wanted: dict[Address, tuple[tuple[str, str], ...]] | None = None
        self._commands: list[tuple[Address, str, threading.Event | None]] = []
        self._lock = threading.Lock()
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self._selector.register(self._waker_r, selectors.EVENT_READ, None)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.triggers = 0  # checks asked for, for the bench and the tests

    # ------------------------------------------------------------------ control (any thread)

    def watch(self, wanted: dict[Address, tuple[tuple[str, str], ...]], **timing: float) -> None:
        """Watch exactly these ports from now on (kept connections stay as they are)."""
        _allow_descriptors(len(wanted))
        with self._lock:
            self._wanted = dict(wanted)
            self._first_delay = timing.get("confirm_interval", self._first_delay)
            self._max_delay = timing.get("retry_interval", self._max_delay)
            self._timeout = timing.get("timeout", self._timeout)
        self._wake()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        for watch in self._watches.values():
            self._drop(watch)
        self._watches.clear()
        self._selector.close()
        self._waker_r.close()
        self._waker_w.close()

    def connected(self, address: Address) -> bool:
        """Whether an idle connection to address is established now."""
        watch = self._watches.get(address)
        return bool(watch and watch.connected)

    def excluded(self, address: Address) -> bool:
        """Whether address was found to stall while an idle connection is held."""
        watch = self._watches.get(address)
        return bool(watch and watch.excluded)

    def trust(self, address: Address) -> None:
        """A check of address succeeded: if a connection was held meanwhile, the server copes."""
        watch = self._watches.get(address)
        if watch is not None and watch.connected:
            watch.trusted = True

    def on_trial(self, address: Address) -> bool:
        """Whether a connection to address is held and no check has yet succeeded beside it."""
        watch = self._watches.get(address)
        return watch is not None and watch.sock is not None and not (watch.trusted or watch.excluded)

    def release(self, address: Address, wait: float = 2.0) -> bool:
        """Close the connection to address and hold off until `verdict`; True once closed."""
        done = threading.Event()
        with self._lock:
            self._commands.append((address, "release", done))
        self._wake()
        return done.wait(wait)

    def verdict(self, address: Address, check_ok: bool) -> None:
        """The check after a release: OK means the idle connection stalled the server (stop
        watching it, logged); a failure means the node is down (watch it again)."""
        with self._lock:
            self._commands.append((address, "exclude" if check_ok else "resume", None))
        self._wake()

    def _apply_commands(self) -> None:
        with self._lock:
            commands, self._commands = self._commands, []
        now = time.monotonic()
        for address, what, done in commands:
            watch = self._watches.get(address)
            if watch is None:
                continue
            if what == "release":
                self._drop(watch)
                watch.paused, watch.probing = True, False
                if done is not None:
                    done.set()
            elif what == "exclude" and not watch.excluded:
                watch.excluded = True
                logger.warning(
                    "%s answered only once the watcher's idle connection was closed (it serves one "
                    "connection at a time): not watching it; its checks run on their interval",
                    format_hostport(*address),
                )
            elif what == "resume" and not watch.excluded:
                watch.paused, watch.retry_at = False, now

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already woken (buffer full), or stopped
            self._waker_w.send(b"x")

    # ------------------------------------------------------------------ the selector thread

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._round()
            except Exception:  # a bug here must not end the watching: log it, go on
                logger.exception("connection watcher round failed")
                time.sleep(self._first_delay)

    def _round(self) -> None:
        self._apply_wanted()
        self._apply_commands()
        now = time.monotonic()
        wait = 1.0
        for watch in self._watches.values():
            if watch.sock is None and not (watch.paused or watch.excluded):
                wait = min(wait, max(0.0, watch.retry_at - now))
            elif not watch.connected:
                wait = min(wait, max(0.0, watch.since + self._timeout - now))
        for key, mask in self._selector.select(wait):
            watch = key.data
            if watch is None:
                self._drain_waker()
            elif watch.connected:
                self._on_readable(watch)
            elif mask & selectors.EVENT_WRITE:
                self._on_connect_done(watch)
        self._on_timers(time.monotonic())

    def _apply_wanted(self) -> None:
        with self._lock:
            wanted, self._wanted = self._wanted, None
        if wanted is None:
            return
        for address in [a for a in self._watches if a not in wanted]:
            self._drop(self._watches.pop(address))
        for address, checks in wanted.items():
            if address in self._watches:
                self._watches[address].checks = checks
            else:
                self._watches[address] = _Watch(address, checks)  # retry_at 0: connect now

    def _drain_waker(self) -> None:
        with contextlib.suppress(OSError):
            while self._waker_r.recv(4096):
                pass

    def _on_timers(self, now: float) -> None:
        for watch in self._watches.values():
            if watch.sock is None and now >= watch.retry_at and not (watch.paused or watch.excluded):
                self._connect(watch, now)
            elif watch.sock is not None and not watch.connected and now >= watch.since + self._timeout:
                self._connect_failed(watch, f"connect timed out after {self._timeout:g}s", now)

    def _connect(self, watch: _Watch, now: float) -> None:
        host, port = watch.address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:  # out of file descriptors: our problem, not the node's
            logger.warning("watcher cannot open a socket for %s: %s", format_hostport(host, port), exc)
            watch.failures, watch.probing = watch.failures + 1, False
            watch.retry_at = now + self._max_delay
            return
        sock.setblocking(False)
        code = sock.connect_ex((host, port))
        watch.sock, watch.connected, watch.since = sock, False, now
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
            self._connect_failed(watch, _describe(code), now)
            return
        self._selector.register(sock, selectors.EVENT_WRITE, watch)

    def _on_connect_done(self, watch: _Watch) -> None:
        assert watch.sock is not None
        code = watch.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        now = time.monotonic()
        if code:
            self._connect_failed(watch, _describe(code), now)
            return
        self._selector.modify(watch.sock, selectors.EVENT_READ, watch)
        back = watch.failures > 0
        watch.connected, watch.since, watch.failures, watch.probing = True, now, 0, False
        if back:
            self._fire(watch, f"{format_hostport(*watch.address)} accepts connections again")

    def _connect_failed(self, watch: _Watch, why: str, now: float) -> None:
        self._drop(watch)
        watch.failures += 1
        watch.retry_at = now + self._delay(watch.failures)
        if watch.probing:
            watch.probing = False
            self._fire(watch, f"watched connection closed and {format_hostport(*watch.address)} then {why}")

    def _on_readable(self, watch: _Watch) -> None:
        assert watch.sock is not None
        try:
            data = watch.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._closed(watch, _describe(exc.errno or 0))
            return
        if not data:
            self._closed(watch, "closed")

    def _closed(self, watch: _Watch, how: str) -> None:
        now = time.monotonic()
        lived = now - watch.since
        self._drop(watch)
        watch.quick = watch.quick + 1 if lived < QUICK else 0
        watch.probing = True  # whatever the next attempt finds decides
        watch.retry_at = now + (self._delay(watch.quick - 1) if watch.quick > 1 else 0.0)
        logger.debug("watched connection to %s %s after %.3f s", format_hostport(*watch.address), how, lived)
        if watch.retry_at <= now:
            self._connect(watch, now)

    def _delay(self, attempt: int) -> float:
        return min(self._max_delay, self._first_delay * 2 ** max(0, attempt - 1))

    def _drop(self, watch: _Watch) -> None:
        sock, watch.sock, watch.connected = watch.sock, None, False
        if sock is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        sock.close()

    def _fire(self, watch: _Watch, reason: str) -> None:
        for node_id, polling_id in watch.checks:
            logger.info("%s/%s: %s: checking now", node_id, polling_id, reason)
            self.triggers += 1
            try:
                self._trigger(node_id, polling_id, reason)
            except Exception:  # a broken trigger must not stop the watcher
                logger.exception("watcher trigger for %s/%s failed", node_id, polling_id)


def _allow_descriptors(count: int) -> None:
    """Raise the soft limit on open files (systemd's default is 1,024) to fit the watched ports."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 1024  # the pollers, DNS, dashboard, peers and logs need theirs too
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _describe(code: int) -> str:
    if code == errno.ECONNREFUSED:
        return "refuses connections"
    if code == errno.ECONNRESET:
        return "reset the connection"
    name = errno.errorcode.get(code, str(code))
    return f"fails to connect ({name})"
