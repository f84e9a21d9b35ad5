"""The sync ports resist abuse: clients trickling bytes neither hold a slot nor delay a session.

Before: each read had its own timeout, so a client sending a byte now and then held its
connection (and one of 32 slots) for ever; 32 of them shut a member off. Now everything
before authentication has one deadline and no slot, and a flood pushes out the oldest.
Real `clustersync run` processes on 127.0.17.41-42.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

from clustersync.wire.protocol import MAGIC

from .ha import running_cluster, write_items
from .nodes import wait_for

TRICKLERS = 80  # more than the 32 session slots and the 64 unauthenticated places


def trickle(address: tuple[str, int], stop: threading.Event, cut: list[int]) -> None:
    """Connect and send a byte every 0.2 s; connect again each time the server hangs up."""
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=5) as sock:
                # A greeting, then a frame announcing 100 bytes, then its bytes, one by one.
                for byte in MAGIC + bytes(16) + (100).to_bytes(4, "big") + bytes(2000):
                    sock.sendall(bytes([byte]))
                    if stop.wait(0.2):
                        return
        except OSError:
            cut.append(1)  # the server closed it: its deadline, or pushed out by newer ones
            stop.wait(0.05)


def has(db: Path, key: int) -> bool:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute("SELECT 1 FROM items WHERE id = ?", (key,)).fetchone() is not None
    finally:
        conn.close()


def test_trickling_clients_do_not_delay_a_session(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 2, 41, net="127.0.17", timeout=1) as (n1, n2):
        stop = threading.Event()
        cut: list[int] = []
        for node in (n1, n2):
            threads = [
                threading.Thread(
                    target=trickle, args=((node.address, node.data_port), stop, cut), daemon=True
                )
                for _ in range(TRICKLERS // 2)
            ]
            for t in threads:
                t.start()
        try:
            wait_for(lambda: len(cut) >= TRICKLERS, 30, "the members to hang up on the trickling clients")
            for key in (1000, 1001, 1002):  # sessions both ways while the trickling goes on
                write_items(n2 if key % 2 else n1, key, 1)
                target = n1 if key % 2 else n2
                wait_for(
                    lambda target=target, key=key: has(target.db, key), 20, f"row {key} on {target.node_id}"
                )
        finally:
            stop.set()
