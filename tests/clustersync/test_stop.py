"""Stopping `clustersync run` while a round waits on unreachable members."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

from clustersync import __version__
from clustersync.cli.main import main as clustersync
from clustersync.config import load_settings
from clustersync.store.reads import Member
from clustersync.sync.daemon import Node

from .nodes import make_nodes


def test_a_stop_during_a_round_tries_no_further_member(tmp_path: Path) -> None:
    """Two members that accept connections and never answer (a cut peer, a frozen one): the
    round waits cluster.timeout on the first; a stop meanwhile ends the round there, instead
    of trying the next member too (a SIGTERM then took up to 3 x timeout: seen in the chaos
    drill as "clustersync did not stop within 8 s")."""
    (a,) = make_nodes(tmp_path, ["127.0.0.66"])
    a.write_config(timeout=3)  # the window in which the stop below must come: the first wait
    assert clustersync(["create", "-c", str(a.config)]) == 0
    silent = [socket.create_server(("127.0.0.66", 0)) for _ in range(2)]
    tried = [threading.Event() for _ in silent]
    held: list[socket.socket] = []

    def hold(i: int) -> None:
        try:
            conn, _ = silent[i].accept()
        except OSError:
            return  # closed by the test: never tried
        held.append(conn)
        tried[i].set()

    threads = [threading.Thread(target=hold, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    node = Node(load_settings(a.config))
    try:
        for i, server in enumerate(silent):
            port = server.getsockname()[1]
            node.store.add_member(Member(f"z{i}", "127.0.0.66", port, port, 10 + i, __version__))
        node.start()
        assert tried[0].wait(10), "the round never reached the first member"
    finally:
        node.stop()
    assert not tried[1].is_set()  # the second member was never tried
    for server in silent:
        server.close()
    for conn in held:
        conn.close()


def _member_of(tmp_path: Path, timeout: float) -> Node:
    (a,) = make_nodes(tmp_path, ["127.0.0.66"])
    a.write_config(timeout=timeout)
    assert clustersync(["create", "-c", str(a.config)]) == 0
    return Node(load_settings(a.config))


def test_a_stop_ends_a_session_waiting_on_a_silent_peer_at_once(tmp_path: Path) -> None:
    """A peer that accepts and never answers (frozen): the session would wait cluster.timeout
    (60 s here) for its greeting; a stop shuts the connection down and returns long before."""
    node = _member_of(tmp_path, timeout=60)
    silent = socket.create_server(("127.0.0.66", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def hold() -> None:
        conn, _ = silent.accept()
        held.append(conn)
        accepted.set()

    threading.Thread(target=hold, daemon=True).start()
    port = silent.getsockname()[1]
    node.store.add_member(Member("z0", "127.0.0.66", port, port, 10, __version__))
    try:
        node.start()
        assert accepted.wait(10), "the round never reached the member"
        started = time.monotonic()
    finally:
        node.stop()
    assert time.monotonic() - started < 30  # not the 60 s the greeting's read would have waited
    assert "z0" in node.health.tried  # the session ended unanswered (a broken pipe or a closed read)
    silent.close()
    for conn in held:
        conn.close()


def test_a_stop_ends_a_connect_to_a_peer_that_drops_it_at_once(tmp_path: Path) -> None:
    """A peer whose SYNs are dropped (a cut link; here its accept queue is full): the connect
    would wait cluster.timeout (60 s); a stop ends it and returns long before."""
    node = _member_of(tmp_path, timeout=60)
    full = socket.socket()
    full.bind(("127.0.0.66", 0))
    full.listen(0)
    port = full.getsockname()[1]
    queued = []
    for _ in range(2):  # fill the accept queue: further SYNs are dropped, connects hang
        queued.append(socket.socket())
        queued[-1].setblocking(False)
        queued[-1].connect_ex(("127.0.0.66", port))
    node.store.add_member(Member("z0", "127.0.0.66", port, port, 10, __version__))
    try:
        node.start()
        deadline = time.monotonic() + 10
        while node._session is None and time.monotonic() < deadline:  # the connect under way
            time.sleep(0.01)
        assert node._session is not None, "the round never began to connect"
        started = time.monotonic()
    finally:
        node.stop()
    assert time.monotonic() - started < 30  # not the connect's 60 s
    full.close()
    for sock in queued:
        sock.close()


def test_kill_usr1_writes_every_threads_stack_to_the_log_and_the_member_runs_on(tmp_path: Path) -> None:
    """What an operator (or the chaos drill) does with a member that does not stop: `kill
    -USR1` writes each thread's stack to its log; the member goes on and stops on SIGTERM."""
    (a,) = make_nodes(tmp_path, ["127.0.0.66"])
    assert clustersync(["create", "-c", str(a.config)]) == 0
    a.start()
    log = a.folder / "run.log"
    try:
        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while "most recent call first" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)  # the dump is written by the process: its log is all there is to watch
        text = log.read_text()
        assert text.count("most recent call first") >= 3  # the main thread, the ring's, the servers'
        assert 'File "' in text and "clustersync/sync/daemon.py" in text  # stacks with their frames
        assert a.proc.poll() is None  # still running
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(20) == 0
    finally:
        a.kill()
