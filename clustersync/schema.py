"""clustersync's own tables and the capture triggers on the replicated tables.

Capture is done by triggers, inside the writer's own transaction, so a change committed by
any process or connection (plain SQL, no clustersync code) is recorded. Triggers only note
*which* row changed (table, primary key, wall time) in _cs_pending; the daemon later gives
each change its version (HLC, origin) and a copy of the row. Rows applied from peers are
not captured again: the applier sets _cs_flag.applying to 1 inside its write transaction
and back to 0 before committing, so no other connection ever sees it set (SQLite has one
writer at a time) and the triggers need no application-defined function.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .errors import SchemaError

MEMBERS = "_cs_members"

DDL = f"""
CREATE TABLE IF NOT EXISTS _cs_meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS _cs_flag (applying INTEGER NOT NULL);
INSERT INTO _cs_flag (applying) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM _cs_flag);
CREATE TABLE IF NOT EXISTS _cs_pending (
    seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, wall INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _cs_rows (
    tbl TEXT NOT NULL, pk TEXT NOT NULL, hlc INTEGER NOT NULL, origin TEXT NOT NULL,
    deleted INTEGER NOT NULL, data TEXT, base_hlc INTEGER NOT NULL, base_origin TEXT NOT NULL,
    PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _cs_rows_hlc ON _cs_rows (hlc);
CREATE TABLE IF NOT EXISTS _cs_vector (origin TEXT PRIMARY KEY, hlc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _cs_known (
    member TEXT NOT NULL, origin TEXT NOT NULL, hlc INTEGER NOT NULL, PRIMARY KEY (member, origin));
CREATE TABLE IF NOT EXISTS _cs_conflicts (
    id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, hlc INTEGER NOT NULL,
    origin TEXT NOT NULL, deleted INTEGER NOT NULL, data TEXT,
    winner_hlc INTEGER NOT NULL, winner_origin TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS {MEMBERS} (
    node_id TEXT PRIMARY KEY, address TEXT NOT NULL, port INTEGER NOT NULL,
    data_port INTEGER NOT NULL, position INTEGER NOT NULL, version TEXT NOT NULL);
"""

# Milliseconds since the epoch, computed by SQLite itself so any writer can run the trigger.
_NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
_GUARD = "(SELECT applying FROM _cs_flag) = 0"


def quote(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableInfo:
    """A replicated table's columns and primary key."""

    name: str
    columns: tuple[str, ...]
    pk: tuple[str, ...]


def table_info(db: sqlite3.Connection, name: str, where: str) -> TableInfo:
    """Read a table's columns and primary key; raise SchemaError if it cannot be replicated."""
    rows = db.execute(f"PRAGMA table_info({quote(name)})").fetchall()
    if not rows:
        raise SchemaError(f"{where}: table {name!r} (cluster.tables.replicated) does not exist")
    columns = tuple(r[1] for r in rows)
    pk = tuple(r[1] for r in sorted((r for r in rows if r[5]), key=lambda r: r[5]))
    if not pk:
        raise SchemaError(
            f"{where}: table {name!r} (cluster.tables.replicated) has no primary key; "
            "replicated tables need one to identify rows across members"
        )
    return TableInfo(name, columns, pk)


def install(db: sqlite3.Connection, tables: list[str], where: str) -> dict[str, TableInfo]:
    """Create clustersync's tables and (re)create the capture triggers; return table infos."""
    for statement in DDL.split(";"):  # not executescript: it would commit the caller's transaction
        if statement.strip():
            db.execute(statement)
    infos = {}
    for name in [MEMBERS, *tables]:
        if name.startswith("_cs_") and name != MEMBERS:
            raise SchemaError(f"{where}: table names starting with _cs_ are clustersync's own")
        info = table_info(db, name, where)
        infos[name] = info
        _install_triggers(db, info)
    return infos


def _install_triggers(db: sqlite3.Connection, info: TableInfo) -> None:
    table = quote(info.name)
    label = info.name.replace("'", "''")

    def key(row: str) -> str:
        return "json_array(" + ", ".join(f"{row}.{quote(c)}" for c in info.pk) + ")"

    def note(row: str) -> str:
        return f"INSERT INTO _cs_pending (tbl, pk, wall) VALUES ('{label}', {key(row)}, {_NOW_MS});"

    base = "_cs_" + info.name.replace('"', "")
    statements = [
        f"DROP TRIGGER IF EXISTS {quote(base + '_ins')}",
        f"DROP TRIGGER IF EXISTS {quote(base + '_upd')}",
        f"DROP TRIGGER IF EXISTS {quote(base + '_del')}",
        f"CREATE TRIGGER {quote(base + '_ins')} AFTER INSERT ON {table} WHEN {_GUARD} "
        f"BEGIN {note('NEW')} END",
        # An update that changes the primary key removes the old row and creates a new one.
        f"CREATE TRIGGER {quote(base + '_upd')} AFTER UPDATE ON {table} WHEN {_GUARD} BEGIN "
        f"INSERT INTO _cs_pending (tbl, pk, wall) SELECT '{label}', {key('OLD')}, {_NOW_MS} "
        f"WHERE {key('OLD')} IS NOT {key('NEW')}; {note('NEW')} END",
        f"CREATE TRIGGER {quote(base + '_del')} AFTER DELETE ON {table} WHEN {_GUARD} "
        f"BEGIN {note('OLD')} END",
    ]
    for statement in statements:
        db.execute(statement)


def connect(path: str, timeout: float = 30) -> sqlite3.Connection:
    """Open the database in WAL mode, with transactions controlled explicitly."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db
