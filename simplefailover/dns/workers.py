"""Extra responder processes (dns.workers > 1) on the same UDP ports, with SO_REUSEPORT.

Each worker is `python -m simplefailover.dns.workers`, started with one end of a socket
pair: the service sends it the listen addresses and the zone data, then the new data
on every change; the worker sends back its query counts every second. The kernel
spreads UDP clients over the sockets by address hash. TCP stays in the service.
A worker whose service goes away sees the pair close and exits.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection, wait

from habase.service import start_thread

from ..errors import BindError
from .responder import Responder
from .server import DnsServer, open_socket
from .zone import ZoneData

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0  # seconds for a worker to import, bind and say it is ready
COUNTS_EVERY = 1.0


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simplefailover.dns.workers", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.counts: list[int] = []


class WorkerPool:
    """Start, feed and stop the extra responder processes."""

    def __init__(self, count: int, addresses: list[tuple[str, int]]) -> None:
        self.count = count
        self.addresses = addresses
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()  # one sender at a time on each pipe
        self._reader: threading.Thread | None = None
        self._stopping = False

    def start(self, data: ZoneData) -> None:
        """Start every worker; raise BindError when one cannot listen."""
        try:
            for index in range(self.count):
                worker = _Worker(index)
                self._workers.append(worker)
                worker.conn.send(("start", self.addresses, data))
            for worker in self._workers:
                if not worker.conn.poll(START_TIMEOUT):
                    raise BindError(f"DNS worker {worker.index} did not start within {START_TIMEOUT:.0f} s")
                kind, detail = worker.conn.recv()
                if kind != "ready":
                    raise BindError(str(detail))
        except BaseException:
            self.stop()
            raise
        self._reader = start_thread("dns-workers", self._read_counts)
        logger.info("DNS: %d worker processes also answer UDP", self.count)

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers."""
        return [worker.process.pid for worker in self._workers]

    def push(self, data: ZoneData) -> None:
        """Send new zone data to every worker."""
        with self._lock:
            for worker in self._workers:
                try:
                    worker.conn.send(("data", data))
                except OSError:
                    logger.warning(
                        "DNS worker %d is gone (exit code %s)", worker.index, worker.process.poll()
                    )

    def counts(self) -> list[int]:
        """Query counts by rcode, summed over the workers (last reported)."""
        total = [0] * 24
        for worker in self._workers:
            for code, n in enumerate(worker.counts):
                total[code] += n
        return total

    def stop(self) -> None:
        self._stopping = True
        with self._lock:
            for worker in self._workers:
                with contextlib.suppress(OSError):  # already gone: nothing to tell
                    worker.conn.send(("stop", None))
        for worker in self._workers:
            try:
                worker.process.wait(10)
            except subprocess.TimeoutExpired:
                logger.warning("DNS worker %d did not stop; killing it", worker.index)
                worker.process.kill()
                worker.process.wait()
        if self._reader is not None:
            self._reader.join(5)
        for worker in self._workers:
            worker.conn.close()
        self._workers = []

    def _read_counts(self) -> None:
        by_conn = {worker.conn: worker for worker in self._workers}
        while by_conn and not self._stopping:
            for conn in wait(list(by_conn), timeout=COUNTS_EVERY):
                worker = by_conn[conn]  # type: ignore[index]
                try:
                    kind, detail = worker.conn.recv()
                except (EOFError, OSError):
                    del by_conn[worker.conn]
                    if not self._stopping:
                        logger.error("DNS worker %d exited (code %s)", worker.index, worker.process.poll())
                    continue
                if kind == "counts":
                    worker.counts = detail


def serve_worker(conn: Connection) -> int:
    """The worker process: listen, answer, take new data, report counts, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the service, which stops us
    _, addresses, data = conn.recv()
    responder = Responder(data)
    sockets: list[socket.socket] = []
    try:
        for host, port in addresses:
            sockets.append(open_socket(host, port, socket.SOCK_DGRAM, reuse_port=True))
    except BindError as exc:
        for sock in sockets:
            sock.close()
        conn.send(("error", str(exc)))
        return 1
    server = DnsServer(sockets, [], responder.respond)
    server.start()
    conn.send(("ready", None))
    try:
        while True:
            if conn.poll(COUNTS_EVERY):
                kind, detail = conn.recv()
                if kind == "stop":
                    break
                if kind == "data":
                    responder.update(detail)
            conn.send(("counts", list(responder.counts)))
    except (EOFError, OSError):
        pass  # the service is gone: so are we
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="dns worker: %(levelname)s %(name)s: %(message)s")
    sys.exit(serve_worker(Connection(int(sys.argv[1]))))
