"""Operator controls of a member: remove a member, stop/start replication, identity, upgrade order.

Plain functions behind clustersync.api (the CLI and the dashboard's High Availability page). The
membership list is replicated data (_cs_members): removing a member is deleting its row on
any member, and the ring carries that change to every other member, the removed one too.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..config import Cluster, ClusterConfig
from ..core.codec import encode_key
from ..core.errors import ClusterSyncError, ProtocolError, Refused, RemoteError
from ..core.ring import ring_order
from ..core.strategy import Removed
from ..store.database import Member
from ..store.local import open_store, replicated_cluster
from ..store.reads import ReadOnly
from ..store.schema import MEMBERS, connect
from ..wire.protocol import load_secret
from ..wire.server import open_channel

logger = logging.getLogger(__name__)

STOP_FLAG = "replication.stopped"  # in state_dir: while it exists, `run` neither syncs nor serves sync


def version_of(cluster: Cluster) -> str:
    """The clustersync version this node runs (a test may make it claim another)."""
    return cluster.test_version or __version__


# ------------------------------------------------------------------ service start / stop


def stopped_reason(state_dir: Path) -> str | None:
    """Why replication is stopped on this node (the flag's text), or None when it runs."""
    try:
        return (state_dir / STOP_FLAG).read_text().strip() or "stopped"
    except FileNotFoundError:
        return None


def set_replication(cluster: Cluster, running: bool) -> str:
    """Stop or start replication on this node (the running daemon obeys within a tick); say what changed."""
    flag = cluster.state_dir / STOP_FLAG
    if running:
        if not flag.exists():
            return f"replication already runs on {cluster.node_id}"
        flag.unlink()
        return f"replication started on {cluster.node_id}"
    if flag.exists():
        return f"replication already stopped on {cluster.node_id}"
    cluster.state_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    flag.write_text(f"by clustersync service stop at {stamp}\n")
    return f"replication stopped on {cluster.node_id}: it neither syncs nor answers syncs; data kept"


# ------------------------------------------------------------------ identity (SPEC CL-3)


def identity_problem(
    members: Sequence[Member], recorded: str | None, node_id: str, address: str
) -> str | None:
    """Why this config's node id or address contradicts the membership (ids and addresses are immutable)."""
    if recorded is not None and recorded != node_id:
        return (
            f"cluster.node_id is {node_id!r} but this database is member {recorded!r}: a node id cannot "
            f"change; set it back, or clustersync remove {recorded} and join again under the new id"
        )
    for m in members:
        if m.node_id == node_id and m.address != address:
            return (
                f"cluster.address is {address} but the members know {node_id} at {m.address}: a member's "
                f"address cannot change; set it back, or clustersync remove {node_id} and join again"
            )
        if recorded is None and m.address == address and m.node_id != node_id:
            return (
                f"cluster.node_id is {node_id!r} but address {address} is member {m.node_id!r}: a node id "
                "cannot change while a member"
            )
    return None


# ------------------------------------------------------------------ remove (SPEC CL-9)


def tombstone(database: Path, node_id: str) -> tuple[int, str] | None:
    """The version (hlc, origin) of a member row's deletion, when the member was removed."""
    db = connect(str(database))
    try:
        row = db.execute(
            "SELECT hlc, origin FROM _cs_rows WHERE tbl = ? AND pk = ? AND deleted = 1",
            (MEMBERS, encode_key([node_id])),
        ).fetchone()
    finally:
        db.close()
    return (int(row[0]), str(row[1])) if row else None


def removed_refusal(node: str, removed: tuple[int, str] | None, known: object) -> tuple[str, str] | None:
    """Refuse a sync from a node whose member row we hold deleted, unless it has seen that deletion.

    A node admitted again after its removal received a copy made after the removal, so its
    own vector (in the request's `known`) covers the tombstone; a removed node never has.
    """
    if removed is None:
        return None  # unknown here: most likely a new member whose join has not reached us yet
    theirs = known.get(node) if isinstance(known, dict) else None
    seen = theirs.get(removed[1], 0) if isinstance(theirs, dict) else 0
    if isinstance(seen, int) and seen >= removed[0]:
        return None
    return "removed", f"{node} was removed from the cluster"


def delete_member(database: Path, node_id: str) -> bool:
    """Delete a member's row here; capture makes it a change the ring carries. False if absent."""
    db = connect(str(database))
    try:
        # As a plain write, so the capture trigger records it like any application change.
        deleted = db.execute(f"DELETE FROM {MEMBERS} WHERE node_id = ?", (node_id,)).rowcount
    except sqlite3.Error as exc:
        raise ClusterSyncError(f"{database}: cannot remove member {node_id}: {exc}") from exc
    finally:
        db.close()
    return bool(deleted)


def check_removable(members: Sequence[Member], node_id: str) -> None:
    """Raise ClusterSyncError saying why node_id cannot be removed."""
    ids = [m.node_id for m in members]
    if node_id not in ids:
        raise ClusterSyncError(f"{node_id!r} is not a member (members: {', '.join(ids) or 'none'})")
    if len(ids) == 1:
        raise ClusterSyncError(f"{node_id!r} is the only member: there is no cluster left to remove it from")


def remove_member(config: ClusterConfig, node_id: str) -> Removed:
    """Remove a member of a replicated cluster, from any member (the ring carries the removal)."""
    cluster = replicated_cluster(config)
    store = open_store(config)
    try:
        if not store.meta("member"):
            raise ClusterSyncError(
                f"{config.source}: {cluster.node_id} is not a member: nothing to remove from"
            )
        members = store.members()
        check_removable(members, node_id)
        if node_id != cluster.node_id:
            delete_member(store.path, node_id)
            logger.info("removed member %s; the ring tells the others", node_id)
            return Removed(node_id, cluster.node_id)
        # Removing this node: another member records it, so the change is not stranded here.
        return _remove_through_another(cluster, ring_order(members, node_id), node_id)
    finally:
        store.close()


def _remove_through_another(cluster: Cluster, others: list[Member], node_id: str) -> Removed:
    secret = load_secret(cluster.secret_path())
    errors = []
    for m in others:
        try:
            ch = open_channel((m.address, m.port), secret, cluster.max_message, cluster.timeout, time.time)
            try:
                ch.send({"type": "remove", "node": node_id, "by": cluster.node_id})
                answer = ch.expect("removed", "refused")
            finally:
                ch.sock.close()
        except (OSError, ProtocolError, RemoteError) as exc:
            errors.append(f"{m.node_id} ({m.address}:{m.port}): {exc}")
            continue
        if answer["type"] == "refused":
            raise Refused(str(answer.get("reason")), f"{m.node_id} refused: {answer.get('detail')}")
        return Removed(node_id, m.node_id)
    raise ClusterSyncError(f"no other member answers, so none can record the removal: {'; '.join(errors)}")


# ------------------------------------------------------------------ upgrade order (SPEC CL-10)


@dataclass(frozen=True)
class UpgradeCheck:
    """The verdict of `upgrade-check`: ok, and what to tell the operator."""

    ok: bool
    message: str


def upgrade_verdict(
    members: Sequence[Member], node_id: str, ours: str, first_version: str | None
) -> UpgradeCheck:
    """Pure: whether updating this node now respects "the first node (lowest position) first"."""
    if not members:
        return UpgradeCheck(True, f"{node_id} is not a member: nothing to check")
    first = min(members, key=lambda m: (m.position, m.node_id))
    if first.node_id == node_id:
        return UpgradeCheck(True, f"{node_id} is the first node (position {first.position}): update it first")
    if first_version is None:
        return UpgradeCheck(
            False,
            f"WARNING: cannot reach the first node {first.node_id} ({first.address}, position "
            f"{first.position}) to read its version: update it before the others",
        )
    if first_version != ours:
        return UpgradeCheck(
            False,
            f"WARNING: the first node {first.node_id} (position {first.position}) runs {first_version} and "
            f"this node {ours}: update {first.node_id} first; members on other versions do not sync",
        )
    return UpgradeCheck(True, f"the first node {first.node_id} already runs {ours}: {node_id} may follow")


def ask_version(cluster: Cluster, member: Member) -> str | None:
    """The version a member's running daemon reports on its control port, or None if unreachable."""
    try:
        secret = load_secret(cluster.secret_path())
        ch = open_channel(
            (member.address, member.port), secret, cluster.max_message, cluster.timeout, time.time
        )
        try:
            ch.send({"type": "version"})
            answer = ch.expect("version")
        finally:
            ch.sock.close()
    except (OSError, ClusterSyncError) as exc:
        logger.warning("cannot ask %s its version: %s", member.node_id, exc)
        return None
    version = answer.get("version")
    return version if isinstance(version, str) else None


def upgrade_check(config: ClusterConfig) -> UpgradeCheck:
    """Warn when this node is updated before the first node (the CLI's upgrade-check)."""
    cluster = replicated_cluster(config)
    assert cluster.database is not None  # replicated_cluster checked it
    with ReadOnly(cluster.database, cluster.node_id) as store:  # looking never writes
        members = store.members() if store.meta("member") else []
    ours = version_of(cluster)
    first = min(members, key=lambda m: (m.position, m.node_id), default=None)
    asked = None
    if first is not None and first.node_id != cluster.node_id:
        asked = ask_version(cluster, first)
    return upgrade_verdict(members, cluster.node_id, ours, asked)
