"""Last-writer-wins resolution of two versions of one row; ties go to the higher origin id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Version = tuple[int, str]  # (hlc, origin node id); compared as a tuple
NONE: Version = (0, "")


@dataclass(frozen=True)
class Decision:
    """What to do with an incoming version given the local one."""

    action: Literal["apply", "keep", "same"]
    conflict: bool  # the loser was written without knowing the winner: keep it for inspection


def resolve(
    incoming: Version, incoming_base: Version, local: Version | None, local_base: Version
) -> Decision:
    """Decide between an incoming version and the local one (None: the row was never seen)."""
    if local is None:
        return Decision("apply", False)
    if incoming == local:
        return Decision("same", False)
    if incoming > local:
        # The writer of the incoming version had seen ours (or later): plain succession.
        return Decision("apply", incoming_base < local)
    return Decision("keep", local_base < incoming)
