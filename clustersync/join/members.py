"""Create a cluster, join one, and answer a join: members are replicated data (_cs_members).

A join is recorded by the member that answers it as an ordinary change of _cs_members, so
it travels around the ring like any other row and every member learns of it without a
restart. The joining node's replicated data is replaced by a snapshot of the member's
database (snapshot.py), streamed in checksummed chunks (transfer.py) and swapped in
(incoming.py); normal sync sessions then catch up from the snapshot's vector.

Join protocol on the control port (every message signed, chunk bytes raw, see transfer.py):
joiner `join {node, address, ports, version, tables, resume}`; member `refused` or
`offer {size, tables, resumable}`; joiner `abort` (tables differ, not enough disk) or `go`;
member records the member, makes (or reuses) the snapshot: `snapshot {id, size, chunk,
vector}`; joiner `from {chunk}`; member `chunk`... `end {manifest}`; joiner `received`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from habase.hostport import format_hostport

from .. import __version__
from ..config import Cluster
from ..core.errors import ClusterSyncError, ProtocolError, Refused
from ..store.database import Member, Store
from ..store.schema import MEMBERS
from ..wire.protocol import Channel, Message
from .incoming import Incoming, JoinState
from .snapshot import SnapshotFile, Snapshots, chunk_count, quick_check
from .transfer import receive_chunks, send_chunks

logger = logging.getLogger(__name__)

SAVE_EVERY = 64 << 20  # bytes received between two saves of the joiner's state
_ADMITTING = threading.Lock()  # one admission at a time in this process


def create(store: Store, address: str, port: int, data_port: int) -> int:
    """Make this node the first member; its data becomes the cluster's. Return rows captured."""
    if store.meta("member"):
        raise ClusterSyncError(
            f"{store.path}: this node is already a member of cluster {store.meta('cluster_id')}"
        )
    count = store.backfill()
    store.add_member(Member(store.node_id, address, port, data_port, 1, __version__))
    store.set_meta("cluster_id", secrets.token_hex(8))
    store.set_meta("member", 1)
    logger.info("created cluster %s on %s (%d existing rows)", store.meta("cluster_id"), store.node_id, count)
    return count


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


def check_join(store: Store, request: Message, version: str = __version__) -> None:
    """Check a join request against the members without recording anything; raise Refused."""
    node_id, address = request.get("node"), request.get("address")
    port, data_port = request.get("port"), request.get("data_port")
    if not (isinstance(node_id, str) and node_id and isinstance(address, str)):
        raise ProtocolError("join: node and address are required")
    if type(port) is not int or type(data_port) is not int:
        raise ProtocolError("join: port and data_port must be integers")
    if request.get("version") != version:
        raise Refused(
            "version", f"version mismatch: {node_id} runs {request.get('version')}, members run {version}"
        )
    try:
        family = _family(address)
    except ValueError:
        raise ProtocolError(f"join: {address!r} is not an IP address") from None
    members = store.members()
    if members and family != _family(members[0].address):
        ours = _family(members[0].address)
        raise Refused("family", f"{node_id} has an IPv{family} address; the cluster's members use IPv{ours}")
    for m in members:
        if m.node_id == node_id and m.address != address:
            raise Refused("node_id", f"node id {node_id!r} is already a member with address {m.address}")
        if m.address == address and m.node_id != node_id:
            raise Refused("address", f"address {address} is already used by member {m.node_id!r}")


def admit(store: Store, request: Message, version: str = __version__) -> Member:
    """Check a join request against the members; record the new member. Raise Refused."""
    with _ADMITTING:  # two joins through this member get different positions
        check_join(store, request, version)
        node_id, address = request["node"], request["address"]
        members = store.members()  # effective positions: unique even after concurrent joins elsewhere
        existing = next((m for m in members if m.node_id == node_id), None)
        position = existing.position if existing else max((m.position for m in members), default=0) + 1
        member = Member(node_id, address, request["port"], request["data_port"], position, version)
        store.add_member(member)
    logger.info("member %s (%s) joins at position %d", node_id, address, position)
    return member


def _database_size(path: Path) -> int:
    """The database's size, WAL included (an upper bound of the snapshot's)."""
    wal = Path(str(path) + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def serve_join(ch: Channel, store: Store, request: Message, cluster: Cluster) -> None:
    """Answer a join: check, offer, record the member, stream a snapshot (resumed if asked)."""
    version = cluster.test_version or __version__
    try:
        check_join(store, request, version)
        node = str(request["node"])
        tables = [t for t in store.tables if t != MEMBERS]
        snapshots = Snapshots(cluster.state_dir, cluster.join_keep)
        snapshots.expire()  # those of joins that never finished
        resume = request.get("resume")
        snap = snapshots.get(resume, node) if isinstance(resume, str) else None
        size = snap.size if snap else _database_size(store.path)
        free = shutil.disk_usage(cluster.state_dir if cluster.state_dir.exists() else store.path.parent).free
        if snap is None and free < size:
            raise Refused(
                "disk", f"member {store.node_id} has {free / 1e6:.1f} MB free in {cluster.state_dir}, "
                f"not enough for a {size / 1e6:.1f} MB snapshot",
            )  # fmt: skip
    except Refused as exc:
        ch.send({"type": "refused", "reason": exc.reason, "detail": str(exc)})
        raise
    ch.send({"type": "offer", "size": size, "tables": tables, "resumable": snap is not None})
    answer = ch.expect("go", "abort")
    if answer["type"] == "abort":
        logger.info("join of %s abandoned by the joiner: %s", node, answer.get("reason"))
        return
    admit(store, request, version)
    if snap is None:
        snap = snapshots.make(store.path, tables, node, cluster.join_chunk)
    ch.send(
        {"type": "snapshot", "id": snap.id, "size": snap.size, "chunk": snap.chunk, "vector": snap.vector}
    )
    start = ch.expect("from").get("chunk")
    if type(start) is not int or not 0 <= start <= chunk_count(snap.size, snap.chunk):
        raise ProtocolError(f"from: bad chunk number {start!r}")
    logger.info("streaming snapshot %s to %s from chunk %d", snap.id, node, start)
    check = _checker(snap)
    try:
        complete = send_chunks(
            ch, snap, start, check, cluster.test_join_drop_after, cluster.test_join_corrupt_chunk
        )
    finally:
        snapshots.save(snap)  # the digests computed so far serve a resume
    if complete:
        ch.expect("received")
        snapshots.discard(snap.id)
        logger.info("%s received snapshot %s", node, snap.id)


def _checker(snap: SnapshotFile) -> Callable[[], str]:
    """Run SQLite's quick_check on the snapshot in a thread, alongside the stream; the verdict."""
    if snap.checked:
        return lambda: str(snap.checked)
    verdict: list[str] = []
    thread = threading.Thread(
        target=lambda: verdict.append(quick_check(snap.path)), name="join-check", daemon=True
    )
    thread.start()

    def result() -> str:
        thread.join()
        snap.checked = verdict[0] if verdict else "the check did not finish"
        return snap.checked

    return result


@dataclass(frozen=True)
class JoinRequest:
    """Who joins: this node's id, address, ports, version and replicated tables."""

    node: str
    address: str
    port: int
    data_port: int
    version: str
    tables: list[str]


def free_disk(folder: Path, override: int | None = None) -> int:
    """Free bytes where the database lives (a test may impose the figure)."""
    return override if override is not None else shutil.disk_usage(folder).free


def _disk_problem(available: int, kept: int, size: int, incoming: Incoming) -> str | None:
    """Why the disk is too small for a join (free below twice the database size), or None."""
    if available + kept >= 2 * size:
        return None
    return (
        f"not enough free disk: {available / 1e6:.1f} MB free next to {incoming.database}, "
        f"twice the database size ({2 * size / 1e6:.1f} MB) needed"
    )


def fetch(
    ch: Channel,
    request: JoinRequest,
    incoming: Incoming,
    free: Callable[[], int],
    on_bytes: Callable[[int, int], None],
) -> JoinState:
    """Take the member's snapshot through one connection, resuming what is kept; raise on failure.

    free() gives the free disk bytes; on_bytes(done, total) is called with the bytes kept,
    then after every chunk.
    """
    state = incoming.load()
    ch.send({"type": "join", "node": request.node, "address": request.address, "port": request.port,
             "data_port": request.data_port, "version": request.version, "tables": request.tables,
             "resume": state.snapshot if state else None})  # fmt: skip
    offer = ch.expect("offer", "refused")
    if offer["type"] == "refused":
        raise Refused(str(offer.get("reason")), f"join refused: {offer.get('detail')}")
    size, theirs = offer.get("size"), offer.get("tables")
    if type(size) is not int or not isinstance(theirs, list):
        raise ProtocolError("offer: size and tables are required")
    if sorted(theirs) != sorted(request.tables):
        detail = (
            f"cluster.tables.replicated differs: here {sorted(request.tables)}, the member's {sorted(theirs)}"
        )
        ch.send({"type": "abort", "reason": detail})
        raise Refused("tables", f"join refused: {detail}")
    kept = state.offset if state and offer.get("resumable") else 0
    problem = _disk_problem(free(), kept, size, incoming)
    if problem:
        ch.send({"type": "abort", "reason": problem})
        raise Refused("disk", f"join refused: {problem}")
    ch.send({"type": "go"})
    ch.sock.settimeout(max(ch.sock.gettimeout() or 0, 600))  # the member copies its database first
    snap = ch.expect("snapshot")
    snap_id, size, chunk = snap.get("id"), snap.get("size"), snap.get("chunk")
    if not (isinstance(snap_id, str) and type(size) is int and type(chunk) is int and chunk > 0):
        raise ProtocolError("snapshot: id, size and chunk are required")
    if size > offer["size"]:  # the database grew since the offer: check again
        problem = _disk_problem(free(), 0, size, incoming)
        if problem:
            raise Refused("disk", f"join refused: {problem}")
    if state is None or state.snapshot != snap_id or state.size != size or state.chunk != chunk:
        peer = format_hostport(*ch.sock.getpeername()[:2])  # what `clustersync repair` reuses
        state = incoming.begin(JoinState(peer, snap_id, size, chunk, request.tables))
    else:
        incoming.recheck(state)
    ch.send({"type": "from", "chunk": len(state.digests)})
    on_bytes(state.offset, state.size)
    fd = incoming.open_for_append(state)
    try:
        saved = [state.offset]

        def kept_chunk(done: int) -> None:
            if done - saved[0] >= SAVE_EVERY:  # a rename per chunk costs more than resending 64 MB
                incoming.save(state)
                saved[0] = done
            on_bytes(done, state.size)

        state.checked = receive_chunks(ch, fd, state.digests, state.size, state.chunk, kept_chunk)
    finally:
        os.close(fd)
        incoming.save(state)
    state.received = True
    incoming.save(state)
    ch.send({"type": "received"})
    return state
