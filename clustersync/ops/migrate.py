"""A schema change (`clustersync migrate -c FILE SCRIPT.sql`) of the replicated tables, gated by version.

Run on any member, it applies the script to every member in ring order (by position), each
through its control port (authenticated like every message), and stops at the first member
that fails, saying which are done; `--here` applies it to this member only. On each,
the script's statements (ALTER TABLE ... ADD COLUMN, CREATE INDEX, CREATE TABLE...) run in
one transaction with the database's schema version raised by one; `--from N` refuses to run
unless the database is at version N, so a script is never applied twice nor out of turn.
Members on different schema versions refuse each other's sessions (session.py): rows wait,
never cross versions, and flow again once both sides have migrated. A column added here
takes the values its rows' copies already hold (rowstate.fill_added). A new replicated table,
or one dropped from replication, is then listed in cluster.tables.replicated and the service
restarted on that member.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ..config import Cluster, ClusterConfig
from ..core.errors import ClusterSyncError, ProtocolError, RemoteError
from ..store import reads, rowstate
from ..store.local import open_store, replicated_cluster
from ..store.schema import connect, install
from ..wire.protocol import Channel, Message, load_secret
from ..wire.server import open_channel

logger = logging.getLogger(__name__)

KEY = "schema_version"


def statements(script: str) -> list[str]:
    """The complete SQL statements of a script, in order; raise ValueError on a cut-off one."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip().rstrip(";").strip():
                out.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement at the end of the script: {current.strip()[:80]!r}")
    return out


def migrate(database: Path, tables: list[str], script: str, expect: int | None) -> int:
    """Apply the script and raise the schema version in one transaction; return the new version."""
    try:
        todo = statements(script)
    except ValueError as exc:
        raise ClusterSyncError(str(exc)) from None
    db = connect(str(database))
    try:
        db.execute("BEGIN IMMEDIATE")
        version = int(reads.meta(db, KEY) or 0)
        if expect is not None and version != expect:
            raise ClusterSyncError(
                f"{database} is at schema version {version}, not {expect}: nothing done "
                "(already migrated, or an earlier script is missing)"
            )
        for sql in todo:
            db.execute(sql)
        for info in install(db, tables, "cluster.tables.replicated").values():
            rowstate.fill_added(db, info)
        db.execute("INSERT OR REPLACE INTO _cs_meta (key, value) VALUES (?, ?)", (KEY, version + 1))
        db.execute("COMMIT")
        return version + 1
    except sqlite3.Error as exc:
        raise ClusterSyncError(f"migrating {database}: {exc} (rolled back: nothing changed)") from exc
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
        db.close()


def serve_migrate(ch: Channel, first: Message, cluster: Cluster, woken: Callable[[], None]) -> None:
    """A member's control port: apply a script sent by `clustersync migrate` on another member."""
    script, expect = first.get("script"), first.get("from")
    if not isinstance(script, str) or not (expect is None or type(expect) is int):
        ch.send(
            {"type": "refused", "reason": "migrate", "detail": "migrate: script text and an integer from"}
        )
        return
    assert cluster.database is not None
    try:
        version = migrate(cluster.database, list(cluster.tables.replicated), script, expect)
    except ClusterSyncError as exc:
        ch.send({"type": "refused", "reason": "migrate", "detail": f"{cluster.node_id}: {exc}"})
        return
    logger.info("schema version %d (migrate asked by %s)", version, first.get("by"))
    ch.send({"type": "migrated", "node": cluster.node_id, "schema": version})
    woken()  # sync at once: the members already migrated hold rows for this one


def migrate_ring(config: ClusterConfig, script: str, expect: int | None) -> list[str]:
    """Apply the script on every member in ring order; return one line per member done."""
    cluster = replicated_cluster(config)
    store = open_store(config)
    try:
        members = sorted(store.members(), key=lambda m: (m.position, m.node_id))
    finally:
        store.close()
    secret = load_secret(cluster.secret_path())
    done: list[str] = []
    for m in members:
        try:
            if m.node_id == cluster.node_id:
                assert cluster.database is not None
                version = migrate(cluster.database, list(cluster.tables.replicated), script, expect)
            else:
                ch = open_channel(
                    (m.address, m.port), secret, cluster.max_message, cluster.timeout * 4, time.time
                )
                try:
                    ch.send({"type": "migrate", "script": script, "from": expect, "by": cluster.node_id})
                    answer = ch.expect("migrated", "refused")
                finally:
                    ch.sock.close()
                if answer["type"] == "refused":
                    raise ClusterSyncError(str(answer.get("detail")))
                version = int(answer.get("schema") or 0)
        except (OSError, ProtocolError, RemoteError, ClusterSyncError) as exc:
            so_far = "; ".join(done) or "none"
            raise ClusterSyncError(
                f"stopped at {m.node_id} (position {m.position}): {exc}. Migrated so far: {so_far}. "
                "Fix the cause, then run it with --here on each member not migrated yet, in ring order"
            ) from None
        done.append(f"{m.node_id} (position {m.position}): schema version {version}")
    return done
