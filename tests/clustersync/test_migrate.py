"""`clustersync migrate` on real members in ring order while writers run on every member.

Three `clustersync run` processes on 127.0.19.21-23; each has a writer inserting rows of
its own (node-prefixed ids) the whole time, and, once the ring is migrated, filling the new
column. One command on one member migrates every member through its control port. The
script adds a column and an index; members on different schema versions
hold their rows (sessions refused "schema") until both sides are migrated. At the end no row
is lost, no column wiped, and the index exists everywhere.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from .ha import running_cluster
from .nodes import NodeDir, wait_for

pytestmark = pytest.mark.slow
SCRIPT = "ALTER TABLE items ADD COLUMN note TEXT;\nCREATE INDEX items_note ON items (note);\n"
ROWS = 150  # per writer


class Writer(threading.Thread):
    """Inserts ROWS rows on one member, with the new column once `migrated` is set."""

    def __init__(self, node: NodeDir, base: int) -> None:
        super().__init__(daemon=True)
        self.node, self.base = node, base
        self.migrated = threading.Event()
        self.written: dict[int, str | None] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        db = sqlite3.connect(self.node.db, timeout=30)
        try:
            for i in range(ROWS):
                key = self.base + i
                if self.migrated.is_set():
                    note = f"{self.node.node_id}-{i}"
                    with db:
                        db.execute("INSERT INTO items (id, v, note) VALUES (?, ?, ?)", (key, "w", note))
                    self.written[key] = note
                else:
                    with db:
                        db.execute("INSERT INTO items (id, v) VALUES (?, ?)", (key, "w"))
                    self.written[key] = None
                if self.stop.wait(0.02):
                    return
        finally:
            db.close()


def _rows(node: NodeDir) -> dict[int, tuple[object, ...]]:
    db = sqlite3.connect(node.db, timeout=30)
    try:
        columns = [r[1] for r in db.execute("PRAGMA table_info(items)")]
        if "note" not in columns:
            return {}
        return {r[0]: tuple(r) for r in db.execute("SELECT id, v, note FROM items")}
    finally:
        db.close()


def test_migrate_in_ring_order_while_every_member_writes(tmp_path: Path) -> None:
    script = tmp_path / "add_note.sql"
    script.write_text(SCRIPT)
    with running_cluster(tmp_path, 3, 21, net="127.0.19") as nodes:
        writers = [Writer(node, (i + 1) * 1_000_000) for i, node in enumerate(nodes)]
        for w in writers:
            w.start()
        try:
            for writer in writers:
                wait_for(lambda w=writer: len(w.written) >= 20, 30, "the writers to be busy")
            done = nodes[1].cli("migrate", str(script), "--from", "0")  # from any member: the whole ring
            assert done.stdout.splitlines() == [f"n{i} (position {i}): schema version 1" for i in (1, 2, 3)]
            for writer in writers:
                writer.migrated.set()
            again = nodes[0].cli("migrate", str(script), "--from", "0", check=False)
            assert again.returncode == 1 and "not 0" in again.stderr  # the gate: never twice
            assert "stopped at n1" in again.stderr
            here = nodes[2].cli("migrate", str(script), "--from", "0", "--here", check=False)
            assert here.returncode == 1 and "not 0" in here.stderr
        finally:
            for w in writers:
                w.join(60)
        expected = {}
        for w in writers:
            expected.update({key: (key, "w", note) for key, note in w.written.items()})
        assert len(expected) == 3 * ROWS
        wait_for(lambda: all(_rows(n) == expected for n in nodes), 60, "every row and note on every member")
        for node in nodes:
            db = sqlite3.connect(node.db)
            assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'items_note'").fetchone()
            db.close()
