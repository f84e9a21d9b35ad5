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
