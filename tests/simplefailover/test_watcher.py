"""Event-driven detection (SPEC SF-2): real health pages in their own processes, killed for real.

The schedule in these tests polls every 30 s and retries every 20 s, so anything seen
within the waits below was found by the connection watcher, not by a poll.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplefailover.config import Config, parse_config
from simplefailover.engine import Engine
from simplefailover.pollers.result import PollResult
from simplefailover.scheduler import PollScheduler
from simplefailover.state import Status
from simplefailover.watcher import ConnectionWatcher, targets, watch_address
from tests.support.bind import free_port, wait_until

PRIMARY, SECONDARY = "127.0.21.1", "127.0.21.2"


class Page:
    """`python -m http.server` on one address: a health page in a process we can kill."""

    def __init__(self, address: str, port: int, folder: Path) -> None:
        self.address, self.port, self.folder = address, port, folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", self.address],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._listening, 10, f"health page on {self.address}:{self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def _listening(self) -> bool:
        try:
            socket.create_connection((self.address, self.port), timeout=1).close()
        except OSError:
            return False
        return True


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[Page, Page]]:
    port = free_port(PRIMARY, (socket.SOCK_STREAM,))
    both = (Page(PRIMARY, port, tmp_path), Page(SECONDARY, port, tmp_path))
    for page in both:
        page.start()
    yield both
    for page in both:
        page.kill()


def make_config(port: int, fall: int = 3, rise: int = 2, retry: float = 20, confirm: float = 0.05) -> Config:
    return parse_config(
        "zone: {name: t.test}\n"
        f"nodes: [{{id: n1, address: {PRIMARY}, priority: 10}}, {{id: n2, address: {SECONDARY}}}]\n"
        f'pollings: [{{id: web, method: http, url: "http://{{address}}:{port}/", timeout: 2}}]\n'
        "hostnames: [{name: www, polling: web}]\n"
        f"schedule: {{interval: 30, retry_interval: {retry}, confirm_interval: {confirm}, "
        f"fall: {fall}, rise: {rise}}}\n"
    )


class Running:
    """The real engine and scheduler (with its watcher), every result kept in order."""

    def __init__(self, config: Config) -> None:
        self.engine = Engine(config)
        self.results: list[tuple[str, PollResult]] = []
        self._lock = threading.Lock()
        self.scheduler = PollScheduler(config, self._record, self.engine.check_state)

    def _record(self, node_id: str, polling_id: str, result: PollResult) -> None:
        with self._lock:
            self.results.append((node_id, result))
        self.engine.record(node_id, polling_id, result)

    def of(self, node_id: str) -> list[PollResult]:
        with self._lock:
            return [r for n, r in self.results if n == node_id]

    def status(self, node_id: str) -> Status:
        state = self.engine.check_state(node_id, "web")
        return state.status if state else Status.UNKNOWN

    def answer(self) -> tuple[str, ...]:
        return self.engine.table.answers["www.t.test"].addresses

    def watching(self, page: Page) -> bool:
        watcher = self.scheduler.watcher
        return watcher is not None and watcher.connected((page.address, page.port))


@pytest.fixture
def running(pages: tuple[Page, Page]) -> Iterator[Running]:
    run = Running(make_config(pages[0].port))
    run.scheduler.start()
    yield run
    run.scheduler.stop()


def settle(run: Running, *pages: Page) -> None:
    wait_until(lambda: run.engine.ready.is_set(), 10, "the first round of checks")
    for page in pages:
        wait_until(lambda page=page: run.watching(page), 10, f"the watcher connected to {page.address}")


def test_killed_server_is_checked_at_once_and_fall_confirmed_by_confirm_interval(
    pages: tuple[Page, Page], running: Running
) -> None:
    primary, _ = pages
    settle(running, primary)
    assert running.status("n1") is Status.OK and running.answer() == (PRIMARY,)
    before = len(running.of("n1"))
    primary.kill()
    wait_until(lambda: running.status("n1") is Status.KO, 10, "n1 KO (retry_interval is 20 s)")
    failures = running.of("n1")[before:]
    assert [r.ok for r in failures] == [False] * 3  # fall: 3 failed checks, no more, no fewer
    assert all(r.error == "connection refused" for r in failures)
    # Confirmations start confirm_interval apart (minus jitter): compare start times, as a
    # result's `at` is when the check finished and latencies differ under load.
    starts = [r.at - r.latency for r in failures]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.05 * 0.9
    assert running.answer() == (SECONDARY,)
    assert running.scheduler.watcher is not None and running.scheduler.watcher.triggers >= 1


def test_watcher_reconnects_and_checks_when_the_node_comes_back(
    pages: tuple[Page, Page], running: Running
) -> None:
    primary, _ = pages
    settle(running, primary)
    primary.kill()
    wait_until(lambda: running.status("n1") is Status.KO, 10, "n1 KO")
    assert not running.watching(primary)
    count = len(running.of("n1"))
    primary.start()
    wait_until(lambda: running.watching(primary), 10, "the watcher connected again")
    wait_until(lambda: len(running.of("n1")) > count, 10, "a check of n1 (retry_interval is 20 s)")
    assert running.of("n1")[count].ok
    assert running.status("n1") is Status.KO  # rise 2: one success is not enough


def test_flapping_server_does_not_flap_the_answer(pages: tuple[Page, Page]) -> None:
    primary, _ = pages
    run = Running(make_config(primary.port, fall=1, rise=4, retry=1))
    run.scheduler.start()
    try:
        settle(run, primary)
        primary.kill()
        wait_until(lambda: run.answer() == (SECONDARY,), 10, "failover to n2")
        for _ in range(3):  # back for one check, gone again
            count = len(run.of("n1"))
            primary.start()
            wait_until(lambda count=count: any(r.ok for r in run.of("n1")[count:]), 10, "a good check")
            primary.kill()
            wait_until(lambda count=count: not run.of("n1")[-1].ok, 10, "a failed check")
            assert run.status("n1") is Status.KO and run.answer() == (SECONDARY,)
        answers = [t for t in run.engine.snapshot().events if t.kind == "answer"]
        assert [t.new for t in answers] == [PRIMARY, SECONDARY]  # first answer, one failover, no flap
        primary.start()
        wait_until(lambda: run.answer() == (PRIMARY,), 15, "failback after rise successes")
        state = run.engine.check_state("n1", "web")
        assert state is not None and state.successes >= 4
    finally:
        run.scheduler.stop()


class Holder:
    """A TCP server that answers each connection 'ok' after a release, for overlap checks."""

    def __init__(self, address: str) -> None:
        self.sock = socket.create_server((address, 0))
        self.port = int(self.sock.getsockname()[1])
        self.release = threading.Event()
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            self.release.wait(10)
            with contextlib.suppress(OSError):
                conn.sendall(b"ok\r\n")


def test_check_asked_for_while_running_runs_after_it_never_beside_it() -> None:
    holder = Holder("127.0.21.3")
    config = parse_config(
        "zone: {name: t.test}\nnodes: [{id: n, address: 127.0.21.3}]\n"
        f"pollings: [{{id: web, method: tcp, port: {holder.port}, expect: ok, timeout: 10}}]\n"
        "hostnames: [{name: www, polling: web}]\n"
        "schedule: {interval: 30, retry_interval: 20, watch: false}\n"
    )
    results: list[PollResult] = []
    lock = threading.Lock()
    engine = Engine(config)

    def record(node_id: str, polling_id: str, result: PollResult) -> None:
        with lock:
            results.append(result)
        engine.record(node_id, polling_id, result)

    scheduler = PollScheduler(config, record, engine.check_state)
    scheduler.start()
    try:
        wait_until(lambda: holder.accepted >= 1, 10, "the first check connecting")
        for _ in range(5):  # asked again and again while the first check waits for its banner
            scheduler.check_now("n", "web")
        assert not results and holder.accepted == 1  # no second check beside the first
        holder.release.set()
        wait_until(lambda: len(results) >= 2, 10, "the asked-for check after the first")
        assert holder.accepted == 2 and all(r.ok for r in results)  # five asks, one more check
    finally:
        scheduler.stop()
        holder.sock.close()


def test_server_closing_idle_connections_triggers_no_check() -> None:
    """A healthy server that drops idle connections (keep-alive timeout) still accepts new ones."""
    server = socket.create_server(("127.0.21.4", 0))
    port = int(server.getsockname()[1])
    closes = [0]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()  # idle connections closed at once
            closes[0] += 1

    threading.Thread(target=serve, daemon=True).start()
    asked: list[tuple[str, str, str]] = []
    watcher = ConnectionWatcher(lambda *a: asked.append(a), 0.01, 0.05, 2)
    watcher.start()
    try:
        watcher.watch({("127.0.21.4", port): (("n", "web"),)})
        wait_until(lambda: closes[0] >= 5, 10, "the server closing five watched connections")
        assert asked == []  # each close found the port accepting: nothing to check
        server.close()
        wait_until(lambda: asked, 10, "a check asked for once the port refuses")
        assert asked[0][:2] == ("n", "web") and "refuses" in asked[0][2]
    finally:
        watcher.stop()
        server.close()


def test_watch_addresses_follow_the_pollings() -> None:
    config = parse_config(
        "zone: {name: t.test}\n"
        "nodes: [{id: a, address: 127.0.21.5}, {id: b, address: '::1'}]\n"
        "pollings:\n"
        '  - {id: web, method: http, url: "http://{address}:8080/x"}\n'
        '  - {id: tls, method: https, url: "https://{address}/"}\n'.replace("method: https", "method: http")
        + '  - {id: other, method: http, url: "http://example.test/"}\n'
        "  - {id: sip, method: telnet, port: 5060}\n"
        "  - {id: siptls, method: sip, transport: tls}\n"
        "  - {id: sipudp, method: sip}\n"
        "  - {id: dnstcp, method: dns, name: x.test, transport: tcp}\n"
        "  - {id: dnsudp, method: dns, name: x.test}\n"
        "hostnames: [{name: www, polling: web}]\n"
    )
    assert watch_address(config.polling("web"), config.node("b")) == ("::1", 8080)
    assert watch_address(config.polling("tls"), config.node("a")) == ("127.0.21.5", 443)
    assert watch_address(config.polling("other"), config.node("a")) is None  # not the node's port
    assert targets(config)[("127.0.21.5", 5060)] == (("a", "sip"),)
    assert watch_address(config.polling("siptls"), config.node("a")) == ("127.0.21.5", 5061)
    assert watch_address(config.polling("dnstcp"), config.node("a")) == ("127.0.21.5", 53)
    assert watch_address(config.polling("sipudp"), config.node("a")) is None  # UDP: nothing to hold
    assert watch_address(config.polling("dnsudp"), config.node("a")) is None
    assert len(targets(config)) == 10  # web, tls, sip, siptls, dnstcp on each of two nodes


def test_watch_follows_a_new_set_of_ports() -> None:
    """A reload's new ports are watched, ports no longer polled are let go, kept ones stay."""
    old, kept, new = (socket.create_server(("127.0.21.6", 0)) for _ in range(3))
    address = {s: ("127.0.21.6", int(s.getsockname()[1])) for s in (old, kept, new)}
    watcher = ConnectionWatcher(lambda *a: None, 0.01, 0.05, 2)
    watcher.start()
    try:
        watcher.watch({address[old]: (("a", "p"),), address[kept]: (("b", "p"),)})
        wait_until(lambda: watcher.connected(address[old]) and watcher.connected(address[kept]), 10, "both")
        watcher.watch({address[kept]: (("b", "p"),), address[new]: (("c", "p"),)})
        wait_until(lambda: watcher.connected(address[new]), 10, "the new port watched")
        assert not watcher.connected(address[old]) and watcher.connected(address[kept])
        old.settimeout(5)
        first, _ = old.accept()  # the old watched connection, closed by the watcher
        first.settimeout(5)
        assert first.recv(1) == b""
        first.close()
    finally:
        watcher.stop()
        for sock in (old, kept, new):
            sock.close()


def test_a_server_serving_one_connection_at_a_time_is_not_held_up(tmp_path: Path) -> None:
    """Non-threaded http.server waits on the watcher's idle connection: the watcher lets go
    after a check times out, stops watching that port, and the node stays OK (fall 2)."""
    import http.server

    class Page(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.21.7", 0), Page)  # one connection at a time
    port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = parse_config(
        "zone: {name: t.test}\nnodes: [{id: n, address: 127.0.21.7}]\n"
        f'pollings: [{{id: web, method: http, url: "http://{{address}}:{port}/", timeout: 0.5}}]\n'
        "hostnames: [{name: www, polling: web}]\n"
        "schedule: {interval: 0.3, retry_interval: 0.3, fall: 2, rise: 1}\n"
    )
    run = Running(config)
    run.scheduler.start()
    try:
        watcher = run.scheduler.watcher
        assert watcher is not None
        wait_until(lambda: watcher.excluded(("127.0.21.7", port)), 20, "the port found stalling")
        count = len(run.of("n"))
        wait_until(lambda: len(run.of("n")) >= count + 5, 20, "five more checks")
        assert all(r.ok for r in run.of("n")[count:])  # no idle connection in the way any more
        assert run.status("n") is Status.OK and not watcher.connected(("127.0.21.7", port))
    finally:
        run.scheduler.stop()
        server.shutdown()
        server.server_close()
