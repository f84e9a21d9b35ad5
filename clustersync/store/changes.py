"""Versions of rows as stored, sent and applied; the consistent read that streams them to a peer.

A Change is one version of one row: table, key (codec.encode_key), HLC and origin, a
tombstone or the row's JSON copy, and the version it replaced (its base). A Snapshot reads
the versions a peer lacks from the (origin, hlc) index, origin by origin from where the peer
is, merged in HLC order and cut into batches bounded in rows and bytes.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, repeat
from operator import eq, is_
from typing import Any, NamedTuple

from ..core.vector import Vector

BATCH_BYTES = 4 << 20  # a batch (one transaction) holds about this much row data
FIRST_BATCH = 250  # rows of a session's first batch (then `size`): its apply overlaps reading the rest


class Change(NamedTuple):
    """One version of one row, as stored and as sent (a named tuple: thousands are built per batch)."""

    tbl: str
    pk: str
    hlc: int
    origin: str
    deleted: bool
    data: str | None
    base_hlc: int
    base_origin: str
    clocks: str | None = None  # merge.encode_clocks: the row's incarnation, delete and column versions

    def wire(self) -> list[Any]:
        """The change as a JSON-ready list (8 fields when it has no clocks, as members before 19 send)."""
        c = self
        out = [c.tbl, c.pk, c.hlc, c.origin, int(c.deleted), c.data, c.base_hlc, c.base_origin]
        return out if c.clocks is None else [*out, c.clocks]

    @classmethod
    def from_wire(cls, item: object) -> Change:
        """Check and build a change received from a peer; raise ValueError if malformed."""
        if not isinstance(item, list) or len(item) not in (8, 9):
            raise ValueError("a change is a list of 8 or 9 fields")
        tbl, pk, hlc, origin, deleted, data, base_hlc, base_origin = item[:8]
        clocks = item[8] if len(item) == 9 else None
        if clocks is not None and not isinstance(clocks, str):
            raise ValueError("change clocks must be a string")
        if not (isinstance(tbl, str) and isinstance(pk, str) and isinstance(origin, str)):
            raise ValueError("change table, key and origin must be strings")
        if type(hlc) is not int or type(base_hlc) is not int or not isinstance(base_origin, str):
            raise ValueError("change versions must be integers")
        if deleted not in (0, 1) or (data is None) != bool(deleted):
            raise ValueError("a change is a tombstone without data or a row with data")
        if data is not None and not isinstance(data, str):
            raise ValueError("a change is a tombstone without data or a row with data")
        return cls(tbl, pk, hlc, origin, bool(deleted), data, base_hlc, base_origin, clocks)

    @classmethod
    def many_from_wire(cls, items: list[Any]) -> list[Change]:
        """[from_wire(item) for item in items], the same changes and errors, checked column by
        column when every item is a well-typed list (in C: a fraction of the cost per item)."""
        if set(map(type, items)) == _LIST and len(widths := set(map(len, items))) == 1 and widths <= {8, 9}:
            columns = list(zip(*items, strict=True))
            tbl, pk, hlc, origin, deleted, data, base_hlc, base_origin = columns[:8]
            clocks = columns[8] if len(columns) == 9 else repeat(None, len(items))
            if (
                set(map(type, chain(tbl, pk, origin, base_origin))) == _STR
                and set(map(type, chain(hlc, base_hlc, deleted))) == _INT
                and (len(columns) == 8 or _OPTIONAL.issuperset(map(type, clocks)))
                and _consistent(deleted, data)
            ):
                versions = zip(
                    tbl, pk, hlc, origin, map(bool, deleted), data, base_hlc, base_origin, clocks, strict=True
                )
                return list(map(partial(tuple.__new__, cls), versions))
        return [cls.from_wire(item) for item in items]


_LIST, _STR, _INT = {list}, {str}, {int}
_OPTIONAL = frozenset((str, type(None)))


def _consistent(deleted: tuple[int, ...], data: tuple[Any, ...]) -> bool:
    """Whether each (integer) deleted is 1 with no data or 0 with text data."""
    kinds, flags = set(map(type, data)), set(deleted)
    if kinds == _STR or kinds == {type(None)}:
        return flags == ({0} if kinds == _STR else {1})
    return (
        _OPTIONAL.issuperset(kinds)
        and flags <= {0, 1}
        and list(map(is_, data, repeat(None))) == list(map(eq, deleted, repeat(1)))
    )


@dataclass
class ApplyResult:
    """What one apply did."""

    applied: int = 0
    kept: int = 0
    duplicates: int = 0
    conflicts: int = 0
    collisions: int = 0  # two rows inserted under one key (merge.Lost kind "insert")
    merged: int = 0  # rows whose merge matched neither side: versioned anew here
    max_own: int = 0  # the highest of those new versions
    stale: int = 0  # versions older than a collected tombstone, dropped
    quarantined: int = 0  # versions recorded but refused by this database (quarantine.py)
    max_hlc: int = 0
    stamped: list[Change] = field(default_factory=list)  # local changes versioned first


@dataclass
class Snapshot:
    """A consistent read of the database for one outgoing stream."""

    db: sqlite3.Connection
    vector: Vector = field(default_factory=dict)

    def batches(self, peer: Vector, size: int, max_bytes: int = BATCH_BYTES) -> Iterator[list[Change]]:
        """The current versions the peer lacks, in HLC order, in batches of at most size rows and
        about max_bytes (a row larger than that goes alone); the first batch holds at most
        FIRST_BATCH rows, so the peer starts applying while the next is read."""
        for rows, _ in self.wire_batches(peer, size, max_bytes):
            yield [Change(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], *r[8:]) for r in rows]

    def wire_batches(
        self, peer: Vector, size: int, max_bytes: int = BATCH_BYTES
    ) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
        """The batches of `batches`, each version as sent (Change.wire's fields, read as stored:
        no object per row), with the bytes of row data in the batch.

        Each origin is read from the (origin, hlc) index from where the peer is for it, so a
        session with nothing to send costs a few index lookups whatever the table's size and
        whichever origins have been idle for long.
        """
        sql = (
            "SELECT tbl, pk, hlc, origin, deleted, data, base_hlc, base_origin, clocks FROM _cs_rows "
            "WHERE origin = ? AND hlc > ? ORDER BY hlc"
        )
        streams = [self.db.execute(sql, (o, peer.get(o, 0))) for o in sorted(self.vector)]
        ordered = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda r: (r[2], r[3]))
        batch: list[tuple[Any, ...]] = []
        used = data = 0
        rows = min(size, FIRST_BATCH)  # a small first batch: the peer applies it while we read on
        for r in ordered:
            length = len(r[5] or "")
            cost = length + len(r[8] or "") + len(r[1]) + 64
            if batch and (len(batch) >= rows or used + cost > max_bytes):
                yield batch, data
                batch, used, data, rows = [], 0, 0, size
            batch.append(r[:8] if r[8] is None else r)  # 8 fields without clocks, as Change.wire
            used += cost
            data += length
        if batch:
            yield batch, data
