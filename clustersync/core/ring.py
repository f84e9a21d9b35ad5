"""Ring order: who a member syncs with, and who next when that one does not answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class Positioned(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def position(self) -> int: ...


T = TypeVar("T", bound=Positioned)


def effective_positions(members: Sequence[Positioned]) -> dict[str, int]:
    """Unique positions, the same on every member holding the same rows: node id -> position.

    Two joins admitted at once by different members may record the same position (each
    takes the highest it knows + 1). In ring order, (position, node id), each member gets
    max(its recorded position, the previous member's + 1): unique, in ring order, and equal
    to the recorded position whenever that is already unique.
    """
    out: dict[str, int] = {}
    last = None
    for m in sorted(members, key=lambda m: (m.position, m.node_id)):
        last = m.position if last is None else max(m.position, last + 1)
        out[m.node_id] = last
    return out


def ring_order(members: Sequence[T], self_id: str) -> list[T]:
    """The other members in ring order starting at this member's successor."""
    ordered = sorted(members, key=lambda m: (m.position, m.node_id))
    ids = [m.node_id for m in ordered]
    if self_id not in ids:
        return [m for m in ordered if m.node_id != self_id]
    at = ids.index(self_id)
    return ordered[at + 1 :] + ordered[:at]


def choose_peers(members: Sequence[T], self_id: str, failed_until: dict[str, float], now: float) -> list[T]:
    """Members to try this round, in order: the successor first unless it failed recently."""
    order = ring_order(members, self_id)
    fresh = [m for m in order if failed_until.get(m.node_id, 0) <= now]
    return fresh or order
