"""The shared strategy's membership (SPEC CL-1): rows of one PostgreSQL that every member uses.

With strategy shared no data is synchronised: the application tables are the database's and
its own high availability is the database's business. The cluster's members and their
heartbeats live in the schema `clustersync` of that same database, so create, join, remove
and status work as with the replicated strategy. The DSN may hold a password: it never
appears in a message or a log line (`safe_dsn`, `scrub`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from habase.atomic import read_mapping, write_atomic

from .. import __version__
from ..core.errors import ClusterSyncError, Refused
from .driver import conninfo_to_dict, make_conninfo, psycopg

logger = logging.getLogger(__name__)

MARKER_FILE = "shared.json"  # in state_dir: this node's membership, known while the database is down
LOCK_KEY = 0x5F5C_C1A5  # advisory lock serialising membership changes between members
SCHEMA = [
    "CREATE SCHEMA IF NOT EXISTS clustersync",
    "CREATE TABLE IF NOT EXISTS clustersync.cluster ("
    " id integer PRIMARY KEY CHECK (id = 1), cluster_id text NOT NULL,"
    " created timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS clustersync.members ("
    " node_id text PRIMARY KEY, address text NOT NULL UNIQUE, port integer NOT NULL,"
    " position integer NOT NULL, version text NOT NULL,"
    " joined timestamptz NOT NULL DEFAULT now(), heartbeat timestamptz)",
]


class DatabaseError(ClusterSyncError):
    """The shared database cannot be reached or refused a statement (message without password)."""


@dataclass(frozen=True)
class SharedMember:
    """A member as recorded in clustersync.members, with the age of its last heartbeat."""

    node_id: str
    address: str
    port: int
    position: int
    version: str
    heartbeat_age: float | None  # seconds, by the database's clock; None: never beat


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, fit for messages and logs."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(a DSN that cannot be parsed)"  # its text may hold a password: show none of it
    params.pop("password", None)
    first = [k for k in ("host", "hostaddr", "port", "dbname", "user") if k in params]  # read first
    order = first + sorted(k for k in params if k not in first)
    return make_conninfo(**{k: str(params[k]) for k in order})


def scrub(text: str, dsn: str) -> str:
    """Text with the DSN's password, if any, replaced by ***."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        return text.replace(dsn, "(DSN)")
    if not password:
        return text
    forms = {str(password), quote(str(password), safe="")}  # as given, and as written in a URI
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def connect(dsn: str, timeout: float, node_id: str) -> psycopg.Connection[Any]:
    """Connect within a short timeout (libpq's minimum is 2 s); password also from env/PGPASSFILE."""
    seconds = max(2, math.ceil(timeout))
    try:
        return psycopg.connect(
            dsn,
            autocommit=True,
            connect_timeout=seconds,
            tcp_user_timeout=seconds * 1000,  # a silent server fails the statement, not hangs it
            application_name=f"clustersync {node_id}"[:63],
        )
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {safe_dsn(dsn)}: {describe(exc, dsn)}") from None


@contextlib.contextmanager
def deadline(conn: psycopg.Connection[Any], seconds: float, dsn: str) -> Iterator[None]:
    """Cut the connection when the statements inside take longer than seconds.

    A server that is hung but whose kernel still acknowledges (stopped, swapping, deadlocked)
    would block a statement forever: neither connect_timeout nor tcp_user_timeout applies.
    """
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        with contextlib.suppress(OSError, psycopg.Error):
            sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns: psycopg raises
            finally:
                sock.close()

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    except psycopg.Error as exc:
        if fired.is_set():
            raise DatabaseError(f"{safe_dsn(dsn)}: no answer within {seconds:g} s (connection cut)") from exc
        raise
    finally:
        timer.cancel()


def describe(exc: BaseException, dsn: str) -> str:
    """A database error on one line, without the password."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return scrub(text, dsn)


def _lock(conn: psycopg.Connection[Any]) -> None:
    """Serialise membership changes; create the schema if it is not there yet."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
    row = conn.execute(
        "SELECT to_regclass('clustersync.cluster') IS NOT NULL"
        " AND to_regclass('clustersync.members') IS NOT NULL"
    ).fetchone()
    if not (row and row[0]):  # DDL only when needed: a role without CREATE works on a schema made by a DBA
        for statement in SCHEMA:
            conn.execute(statement)


def members(conn: psycopg.Connection[Any]) -> list[SharedMember]:
    """Every member by position (none when the schema is not there yet)."""
    exists = conn.execute("SELECT to_regclass('clustersync.members') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT node_id, address, port, position, version,"
        " extract(epoch FROM clock_timestamp() - heartbeat)::float8"
        " FROM clustersync.members ORDER BY position, node_id"
    ).fetchall()
    return [SharedMember(*row) for row in rows]


def cluster_id(conn: psycopg.Connection[Any]) -> str | None:
    """The id of the cluster recorded in the database, or None."""
    exists = conn.execute("SELECT to_regclass('clustersync.cluster') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT cluster_id FROM clustersync.cluster").fetchone()
    return str(row[0]) if row else None


def create(
    conn: psycopg.Connection[Any], node_id: str, address: str, port: int, version: str = __version__
) -> str:
    """Record a new cluster with this node as its first member; return the cluster id."""
    with conn.transaction():
        _lock(conn)
        current = members(conn)
        if any(m.node_id == node_id and m.address == address for m in current):
            raise ClusterSyncError(f"{node_id} is already a member of cluster {cluster_id(conn)}")
        if current:
            names = ", ".join(f"{m.node_id} ({m.address})" for m in current)
            raise ClusterSyncError(
                f"the database already holds cluster {cluster_id(conn)} with members {names}: "
                "run clustersync join --peer <a member's address> instead"
            )
        new_id = secrets.token_hex(8)
        conn.execute("DELETE FROM clustersync.cluster")
        conn.execute("INSERT INTO clustersync.cluster (id, cluster_id) VALUES (1, %s)", (new_id,))
        conn.execute(
            "INSERT INTO clustersync.members (node_id, address, port, position, version, heartbeat)"
            " VALUES (%s, %s, %s, 1, %s, now())",
            (node_id, address, port, version),
        )
    logger.info("created shared cluster %s on %s", new_id, node_id)
    return new_id


def join(
    conn: psycopg.Connection[Any],
    node_id: str,
    address: str,
    port: int,
    peer: str,
    version: str = __version__,
) -> tuple[str, int]:
    """Record this node as a member of the database's cluster; return (cluster id, position).

    Joining again with the same id and address is allowed, so an interrupted join is
    completed by running it again.
    """
    with conn.transaction():
        _lock(conn)
        current, cid = members(conn), cluster_id(conn)
        if not current or cid is None:
            raise ClusterSyncError("the shared database holds no cluster: run clustersync create first")
        listed = ", ".join(f"{m.node_id} ({m.address})" for m in current)
        if not any(_same_address(m.address, peer) for m in current):
            raise Refused("peer", f"--peer {peer} is not a member of cluster {cid}; its members: {listed}")
        other = [m for m in current if m.version != version]
        if other:
            runs = ", ".join(f"{m.node_id} runs {m.version}" for m in other)
            raise Refused("version", f"version mismatch: {node_id} runs {version}, {runs}")
        family, ours = ipaddress.ip_address(address).version, ipaddress.ip_address(current[0].address).version
        if family != ours:
            raise Refused(
                "family", f"{node_id} has an IPv{family} address; the cluster's members use IPv{ours}"
            )
        for m in current:
            if m.node_id == node_id and m.address != address:
                raise Refused("node_id", f"node id {node_id!r} is already a member with address {m.address}")
            if m.address == address and m.node_id != node_id:
                raise Refused("address", f"address {address} is already used by member {m.node_id!r}")
        existing = next((m for m in current if m.node_id == node_id), None)
        position = existing.position if existing else max(m.position for m in current) + 1
        conn.execute(
            "INSERT INTO clustersync.members (node_id, address, port, position, version, heartbeat)"
            " VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (node_id) DO UPDATE"
            " SET port = excluded.port, version = excluded.version, heartbeat = now()",
            (node_id, address, port, position, version),
        )
    logger.info("%s joined shared cluster %s at position %d", node_id, cid, position)
    return cid, position


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def remove(conn: psycopg.Connection[Any], node_id: str) -> None:
    """Remove a member; the others see it at their next heartbeat."""
    with conn.transaction():
        _lock(conn)
        names = [m.node_id for m in members(conn)]
        if node_id not in names:
            raise ClusterSyncError(f"{node_id!r} is not a member; members: {', '.join(names) or 'none'}")
        conn.execute("DELETE FROM clustersync.members WHERE node_id = %s", (node_id,))
    logger.info("removed %s from the shared cluster", node_id)


def heartbeat(conn: psycopg.Connection[Any], node_id: str, version: str = __version__) -> float | None:
    """Record that this member is alive; return the database's clock (epoch s), None if not a member."""
    exists = conn.execute("SELECT to_regclass('clustersync.members') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(
        "UPDATE clustersync.members SET heartbeat = now(), version = %s WHERE node_id = %s"
        " RETURNING extract(epoch FROM clock_timestamp())::float8",
        (version, node_id),
    ).fetchone()
    return float(row[0]) if row else None


def save_marker(state_dir: Path, cid: str, dsn: str) -> None:
    """Remember locally that this node is a member, for status while the database is down."""
    write_atomic(state_dir / MARKER_FILE, json.dumps({"cluster_id": cid, "database": safe_dsn(dsn)}))


def load_marker(state_dir: Path) -> dict[str, Any] | None:
    """This node's membership as last recorded locally, or None."""
    return read_mapping(state_dir / MARKER_FILE)


def member_dicts(found: list[SharedMember]) -> list[dict[str, Any]]:
    """Members as JSON-ready data."""
    return [asdict(m) for m in found]
