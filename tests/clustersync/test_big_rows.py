"""Rows of any size: a 64 MiB row crosses a ring of three real members, rows behind it flow on.

Found on main before: a 20 MB row stalled replication for good (batches were sized in rows
and the receiver refused messages above max_message, so that batch and everything behind it
waited forever). Now batches are bounded in bytes and a message larger than a frame goes in
pieces (protocol.FRAME).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from .ha import running_cluster
from .nodes import NodeDir, wait_for

BIG = 64 << 20


def rows(node: NodeDir) -> dict[int, str]:
    """id -> SHA-256 of the blob (or the text) of every item."""
    db = sqlite3.connect(node.db, timeout=30)
    try:
        found = db.execute("SELECT id, v, b FROM items").fetchall()
    finally:
        db.close()
    return {i: hashlib.sha256(b if b is not None else (v or "").encode()).hexdigest() for i, v, b in found}


def test_64_mib_row_crosses_a_ring_of_three(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 3, 31, net="127.0.17", timeout=2, max_message=1 << 20) as (n1, n2, n3):
        big = os.urandom(BIG)
        db = sqlite3.connect(n1.db, timeout=30)
        with db:
            db.execute("INSERT INTO items (id, b) VALUES (1, ?)", (big,))
        with db:  # small rows written behind it, on the same member
            db.executemany(
                "INSERT INTO items (id, v) VALUES (?, ?)", [(i, f"small {i}") for i in range(2, 22)]
            )
        db.close()
        db = sqlite3.connect(n3.db, timeout=30)
        with db:
            db.execute("INSERT INTO items (id, v) VALUES (100, 'from n3')")
        db.close()
        expected = rows(n1) | {100: hashlib.sha256(b"from n3").hexdigest()}
        assert expected[1] == hashlib.sha256(big).hexdigest()
        for node in (n2, n3, n1):
            wait_for(
                lambda node=node: rows(node) == expected,
                180,
                f"every row, the 64 MiB one too, on {node.node_id}",
            )
