"""One sync session between two members: vectors, clock offset, changes both ways.

The initiator (client) sends its vector and time t1; the other side answers with t2 (when
it received) and t3 (when it answered); the client notes t4. The clock offset is
((t2 - t1) + (t3 - t4)) / 2, as NTP computes it. Above max_clock_offset both sides refuse
to exchange data and say so. Otherwise the client streams the versions the server lacks,
then the server streams back the versions the client lacks; each batch is applied in one
transaction together with the vector it advances, so a crash anywhere loses nothing and
applies nothing twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..core import vector as vectors
from ..core.errors import ProtocolError, Refused
from ..core.status import Report
from ..core.vector import Vector
from ..store.database import Change, Store
from ..wire.protocol import Channel, Message

logger = logging.getLogger(__name__)

BUSY_WAIT = 0.2  # seconds a server waits for this node's own session to finish
APPLY_RATE = 2e6  # bytes per second a busy peer surely applies: the patience a large batch earns


@dataclass
class Context:
    """What a session needs from the node."""

    store: Store
    max_offset: float
    batch_rows: int
    clock: Callable[[], float] = time.time
    version: str = __version__
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_applied: Callable[[int], None] = lambda count: None


def schema_detail(peer: str, theirs: object, ours: int) -> str:
    """Why rows are held: members on different schema versions never exchange them."""
    return (
        f"schema version mismatch: {peer} has {theirs or 0}, this node {ours} "
        "(clustersync migrate: rows wait until both have the same)"
    )


def offset_of(t1: float, t2: float, t3: float, t4: float) -> float:
    """The peer's clock minus ours, from the four timestamps of one round trip."""
    return ((t2 - t1) + (t3 - t4)) / 2


def _known(value: object) -> dict[str, Vector]:
    if not isinstance(value, dict):
        raise ProtocolError("known vectors must be an object")
    return {str(member): vectors.validate(vec) for member, vec in value.items()}


def _number(message: Message, key: str) -> float:
    value = message.get(key)
    if not isinstance(value, int | float):
        raise ProtocolError(f"{message['type']}: {key} must be a number")
    return float(value)


def send_changes(ch: Channel, ctx: Context, peer_vector: Vector) -> int:
    """Stream the versions the peer lacks, then our vector; return how many were sent."""
    sent = 0
    with ctx.store.snapshot() as snap:
        for batch, data in snap.wire_batches(peer_vector, ctx.batch_rows):
            ch.send({"type": "batch", "changes": batch})
            sent += len(batch)
            # The peer applies this batch while we send the next one or wait for its answer.
            ch.patience = data / APPLY_RATE
        ch.send({"type": "done", "vector": snap.vector})
    return sent


def receive_changes(ch: Channel, ctx: Context) -> int:
    """Apply batches until the peer's final vector; return how many versions were new."""
    applied = 0
    while True:
        message = ch.expect("batch", "done")
        ch.patience = 0.0
        if message["type"] == "done":
            ctx.store.apply([], vectors.validate(message.get("vector")))
            ctx.on_applied(applied)
            return applied
        items = message.get("changes")
        if not isinstance(items, list):
            raise ProtocolError("batch: changes must be a list")
        try:
            changes = Change.many_from_wire(items)
            applied += ctx.store.apply(changes).applied
        except ValueError as exc:
            raise ProtocolError(f"batch: {exc}") from None


def run_client(ch: Channel, ctx: Context, peer: str) -> Report:
    """Sync with the member at the other end of ch, as the initiator."""
    report = Report(peer, time.time())
    store = ctx.store
    store.stamp()
    t1 = ctx.clock()
    schema = store.schema_version()
    ch.send(
        {"type": "sync", "node": store.node_id, "version": ctx.version, "schema": schema, "t1": t1,
         "known": store.known()}
    )  # fmt: skip
    hello = ch.expect("hello", "refused")
    t4 = ctx.clock()
    if hello["type"] == "refused":
        raise Refused(str(hello.get("reason")), f"{peer} refused: {hello.get('detail')}")
    report.peer = str(hello.get("node"))
    report.offset = offset_of(t1, _number(hello, "t2"), _number(hello, "t3"), t4)
    if hello.get("version") != ctx.version:
        detail = f"version mismatch: {peer} runs {hello.get('version')}, this node {ctx.version}"
        ch.send({"type": "refuse", "reason": "version", "detail": detail})
        raise Refused("version", detail)
    if (hello.get("schema") or 0) != schema:
        detail = schema_detail(peer, hello.get("schema"), schema)
        ch.send({"type": "refuse", "reason": "schema", "detail": detail})
        raise Refused("schema", detail)
    if abs(report.offset) > ctx.max_offset:
        detail = f"clock offset to {report.peer} is {report.offset:+.1f} s (limit {ctx.max_offset:g} s)"
        ch.send({"type": "refuse", "reason": "clock", "detail": detail, "offset": report.offset})
        raise Refused("clock", detail, report.offset)
    known = _known(hello.get("known"))
    ch.send({"type": "go", "offset": report.offset})
    store.learn(known)
    report.sent = send_changes(ch, ctx, known.get(report.peer, {}))
    report.received = receive_changes(ch, ctx)
    ch.send({"type": "bye"})
    return report


def run_server(ch: Channel, ctx: Context, first: Message) -> Report:
    """Answer a sync request whose first message is `first`."""
    t2 = ctx.clock()
    store = ctx.store
    peer = str(first.get("node"))
    report = Report(peer, time.time())
    if first.get("version") != ctx.version:
        detail = f"version mismatch: {peer} runs {first.get('version')}, this node {ctx.version}"
        ch.send({"type": "refused", "reason": "version", "detail": detail})
        raise Refused("version", detail)
    if (first.get("schema") or 0) != store.schema_version():
        detail = schema_detail(peer, first.get("schema"), store.schema_version())
        ch.send({"type": "refused", "reason": "schema", "detail": detail})
        raise Refused("schema", detail)
    known = _known(first.get("known"))
    if not ctx.lock.acquire(timeout=BUSY_WAIT):
        ch.send({"type": "refused", "reason": "busy", "detail": "in another session; try again soon"})
        raise Refused("busy", "busy")
    try:
        store.stamp()
        reply: dict[str, Any] = {"type": "hello", "node": store.node_id, "version": ctx.version}
        reply["schema"] = store.schema_version()  # the client holds its data unless the same
        reply.update(t1=_number(first, "t1"), t2=t2, known=store.known(), t3=ctx.clock())
        ch.send(reply)
        answer = ch.expect("go", "refuse")
        if answer["type"] == "refuse":
            offset = answer.get("offset")
            offset = -float(offset) if isinstance(offset, int | float) else None
            raise Refused(str(answer.get("reason")), str(answer.get("detail")), offset)
        report.offset = -_number(answer, "offset")
        if abs(report.offset) > ctx.max_offset:  # our own limit may be stricter than the peer's
            detail = f"clock offset to {peer} is {report.offset:+.1f} s (limit {ctx.max_offset:g} s)"
            ch.send({"type": "error", "error": detail})
            raise Refused("clock", detail, report.offset)
        store.learn(known)
        report.received = receive_changes(ch, ctx)
        report.sent = send_changes(ch, ctx, known.get(peer, {}))
        ch.expect("bye")
    finally:
        ctx.lock.release()
    return report
