"""clustersync's own tables and the capture triggers on the replicated tables.

Capture is done by triggers, inside the writer's own transaction, so a change committed by
any process or connection (plain SQL, no clustersync code) is recorded. Triggers only note
*which* row changed (table, primary key, wall time) in _cs_pending; the key's values are
copied as they are into columns without type affinity (k0..k7), so no value of any type
(REAL, BLOB, NULL...) can make the note, and with it the application's write, fail or lose
precision: the daemon encodes keys in Python (codec.encode_key). The daemon later gives
each change its version (HLC, origin) and a copy of the row. Rows applied from peers are
not captured again: the applier sets _cs_flag.applying to 1 inside its write transaction
and back to 0 before committing, so no other connection ever sees it set (SQLite has one
writer at a time) and the triggers need no application-defined function.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from ..core.codec import decode_key
from ..core.errors import SchemaError
from . import bulk

MEMBERS = "_cs_members"
MAX_KEY_COLUMNS = 8  # columns of a primary key (k0..k7 in _cs_pending)
KEY_COLUMNS = tuple(f"k{i}" for i in range(MAX_KEY_COLUMNS))

DDL = f"""
CREATE TABLE IF NOT EXISTS _cs_meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS _cs_flag (applying INTEGER NOT NULL);
INSERT INTO _cs_flag (applying) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM _cs_flag);
CREATE TABLE IF NOT EXISTS _cs_pending (
    seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, wall INTEGER NOT NULL, {", ".join(KEY_COLUMNS)});
CREATE TABLE IF NOT EXISTS _cs_rows (
    tbl TEXT NOT NULL, pk TEXT NOT NULL, hlc INTEGER NOT NULL, origin TEXT NOT NULL,
    deleted INTEGER NOT NULL, data TEXT, base_hlc INTEGER NOT NULL, base_origin TEXT NOT NULL,
    clocks TEXT, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _cs_rows_origin ON _cs_rows (origin, hlc);
CREATE TABLE IF NOT EXISTS _cs_vector (origin TEXT PRIMARY KEY, hlc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _cs_known (
    member TEXT NOT NULL, origin TEXT NOT NULL, hlc INTEGER NOT NULL, PRIMARY KEY (member, origin));
CREATE TABLE IF NOT EXISTS _cs_conflicts (
    id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, hlc INTEGER NOT NULL,
    origin TEXT NOT NULL, deleted INTEGER NOT NULL, data TEXT,
    winner_hlc INTEGER NOT NULL, winner_origin TEXT NOT NULL, at REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'row', col TEXT, winner_data TEXT, acked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS _cs_quarantine (
    tbl TEXT NOT NULL, pk TEXT NOT NULL, hlc INTEGER NOT NULL, origin TEXT NOT NULL,
    error TEXT NOT NULL, at REAL NOT NULL, tries INTEGER NOT NULL, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {MEMBERS} (
    node_id TEXT PRIMARY KEY, address TEXT NOT NULL, port INTEGER NOT NULL,
    data_port INTEGER NOT NULL, position INTEGER NOT NULL, version TEXT NOT NULL);
"""  # k0..k7 have no declared type: no affinity, every value kept exactly as stored

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
    if len(pk) > MAX_KEY_COLUMNS:
        raise SchemaError(
            f"{where}: table {name!r} (cluster.tables.replicated) has a primary key of {len(pk)} columns; "
            f"clustersync replicates keys of up to {MAX_KEY_COLUMNS} columns"
        )
    return TableInfo(name, columns, pk)


def install(db: sqlite3.Connection, tables: list[str], where: str) -> dict[str, TableInfo]:
    """Create clustersync's tables and the capture triggers (only what is missing or different)."""
    _migrate_pending(db)
    _add_columns(db)
    for statement in DDL.split(";"):  # not executescript: it would commit the caller's transaction
        if statement.strip():
            db.execute(statement)
    db.execute("DROP INDEX IF EXISTS _cs_rows_hlc")  # replaced by _cs_rows_origin (origin, hlc)
    db.execute("CREATE INDEX IF NOT EXISTS _cs_conflicts_row ON _cs_conflicts (tbl, pk)")
    infos = {}
    for name in [MEMBERS, *tables]:
        if name.startswith("_cs_") and name != MEMBERS:
            raise SchemaError(f"{where}: table names starting with _cs_ are clustersync's own")
        info = table_info(db, name, where)
        infos[name] = info
        _install_triggers(db, info)
    return infos


def triggers(info: TableInfo) -> dict[str, str]:
    """The capture triggers of a table: name -> CREATE TRIGGER statement."""
    table = quote(info.name)
    label = info.name.replace("'", "''")
    keys = ", ".join(KEY_COLUMNS[: len(info.pk)])

    def values(row: str) -> str:
        return ", ".join(f"{row}.{quote(c)}" for c in info.pk)

    def note(row: str) -> str:
        return f"INSERT INTO _cs_pending (tbl, wall, {keys}) VALUES ('{label}', {_NOW_MS}, {values(row)});"

    moved = " OR ".join(f"OLD.{quote(c)} IS NOT NEW.{quote(c)}" for c in info.pk)
    base = "_cs_" + info.name.replace('"', "")
    return {
        base + "_ins": f"CREATE TRIGGER {quote(base + '_ins')} AFTER INSERT ON {table} WHEN {_GUARD} "
        f"BEGIN {note('NEW')} END",
        # An update that changes the primary key removes the old row and creates a new one.
        base + "_upd": f"CREATE TRIGGER {quote(base + '_upd')} AFTER UPDATE ON {table} WHEN {_GUARD} BEGIN "
        f"INSERT INTO _cs_pending (tbl, wall, {keys}) SELECT '{label}', {_NOW_MS}, {values('OLD')} "
        f"WHERE {moved}; {note('NEW')} END",
        base + "_del": f"CREATE TRIGGER {quote(base + '_del')} AFTER DELETE ON {table} WHEN {_GUARD} "
        f"BEGIN {note('OLD')} END",
    }


def _install_triggers(db: sqlite3.Connection, info: TableInfo) -> None:
    """Create the triggers that are missing or differ; leave identical ones (no schema change)."""
    for name, sql in triggers(info).items():
        found = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (name,)
        ).fetchone()
        if found and found[0] == sql:
            continue
        db.execute(f"DROP TRIGGER IF EXISTS {quote(name)}")
        db.execute(sql)


# Columns added to clustersync's own tables since they were first created (issue 19).
_ADDED = {
    "_cs_rows": ("clocks TEXT",),
    "_cs_conflicts": (
        "kind TEXT NOT NULL DEFAULT 'row'",
        "col TEXT",
        "winner_data TEXT",
        "acked INTEGER NOT NULL DEFAULT 0",
    ),
}


def _add_columns(db: sqlite3.Connection) -> None:
    """Add the columns of _ADDED an older database's tables lack."""
    for table, columns in _ADDED.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if not have:
            continue  # created whole by DDL
        for column in columns:
            if column.split()[0] not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _migrate_pending(db: sqlite3.Connection) -> None:
    """Convert notes of the earlier layout (pk as JSON text) to key columns."""
    columns = {r[1] for r in db.execute("PRAGMA table_info(_cs_pending)")}
    if "pk" not in columns:
        return
    old = db.execute("SELECT tbl, pk, wall FROM _cs_pending ORDER BY seq").fetchall()
    db.execute("DROP TABLE _cs_pending")
    statement = next(s for s in DDL.split(";") if "_cs_pending" in s)
    db.execute(statement)
    for tbl, pk, wall in old:
        values = decode_key(pk, len(json.loads(pk)))[:MAX_KEY_COLUMNS]
        keys = ", ".join(KEY_COLUMNS[: len(values)])
        marks = ", ".join("?" * len(values))
        db.execute(
            f"INSERT INTO _cs_pending (tbl, wall, {keys}) VALUES (?, ?, {marks})", (tbl, wall, *values)
        )


def connect(path: str, timeout: float = 30) -> sqlite3.Connection:
    """Open the database in WAL mode, with transactions controlled explicitly."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def upsert_sql(info: TableInfo, columns: tuple[str, ...], rows: int = 1) -> str:
    """Insert rows or update the given columns of the row with their key (others are left alone).

    Unlike INSERT OR REPLACE, a row that collides on another UNIQUE constraint is an error
    (quarantined by the applier), not a silent deletion of the other row.
    """
    missing = [c for c in info.pk if c not in columns]
    if missing:
        raise ValueError(f"row of table {info.name!r} without its key column(s) {', '.join(missing)}")
    names = ", ".join(quote(c) for c in columns)
    # The key columns too: SQLite holds 1 and 1.0 as the same key, and the winner's spelling wins.
    sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns)
    action = f"DO UPDATE SET {sets}"
    target = ", ".join(quote(c) for c in info.pk)
    into = f"INSERT INTO {quote(info.name)} ({names}) {bulk.values(len(columns), rows)}"
    return f"{into} ON CONFLICT ({target}) {action}"
