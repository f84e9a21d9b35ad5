"""Create a cluster, join one, and answer a join: members are replicated data (_cs_members).

A join is recorded by the member that answers it as an ordinary change of _cs_members, so
it travels around the ring like any other row and every member learns of it without a
restart. The joining node's replicated tables are replaced by a full copy of the member's
(a consistent snapshot), applied in one transaction.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets

from . import __version__
from . import vector as vectors
from .errors import ClusterSyncError, ProtocolError, Refused
from .protocol import Channel, Message
from .store import Change, Member, Store

logger = logging.getLogger(__name__)


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


def admit(store: Store, request: Message, version: str = __version__) -> Member:
    """Check a join request against the members; record the new member. Raise Refused."""
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
    existing = next((m for m in members if m.node_id == node_id), None)
    position = existing.position if existing else max((m.position for m in members), default=0) + 1
    member = Member(node_id, address, port, data_port, position, version)
    store.add_member(member)
    logger.info("member %s (%s) joins at position %d", node_id, address, position)
    return member


def serve_join(ch: Channel, store: Store, request: Message, batch_rows: int) -> None:
    """Answer a join: record the member, then send a full copy of the replicated data."""
    try:
        admit(store, request)
    except Refused as exc:
        ch.send({"type": "refused", "reason": exc.reason, "detail": str(exc)})
        raise
    with store.snapshot() as snap:
        ch.send({"type": "copy", "schemas": store.schemas(), "vector": snap.vector})
        for batch in snap.batches({}, batch_rows):
            ch.send({"type": "batch", "changes": [c.wire() for c in batch]})
        ch.send({"type": "done", "vector": snap.vector})
    ch.expect("bye")


def join(ch: Channel, store: Store, address: str, port: int, data_port: int) -> int:
    """Ask a member to admit this node and take its copy; return the rows received."""
    if store.meta("member"):
        raise ClusterSyncError(f"{store.path}: this node is already a member; nothing to join")
    ch.send(
        {
            "type": "join",
            "node": store.node_id,
            "address": address,
            "port": port,
            "data_port": data_port,
            "version": __version__,
        }
    )
    first = ch.expect("copy", "refused")
    if first["type"] == "refused":
        raise Refused(str(first.get("reason")), f"join refused: {first.get('detail')}")
    schemas = first.get("schemas")
    if not isinstance(schemas, dict) or not all(isinstance(v, str) for v in schemas.values()):
        raise ProtocolError("copy: schemas must be an object of table: SQL")
    changes: list[Change] = []
    while True:
        message = ch.expect("batch", "done")
        if message["type"] == "done":
            break
        items = message.get("changes")
        if not isinstance(items, list):
            raise ProtocolError("batch: changes must be a list")
        try:
            changes.extend(Change.from_wire(item) for item in items)
        except ValueError as exc:
            raise ProtocolError(f"batch: {exc}") from None
    store.replace_all(changes, vectors.validate(message.get("vector")), schemas)
    store.set_meta("member", 1)
    ch.send({"type": "bye"})
    return len(changes)
