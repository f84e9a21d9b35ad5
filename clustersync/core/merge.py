"""Pure: a row's replicated state and its column-level merge (SPEC CL-15), cr-sqlite style.

A row's state is one incarnation (the insert that created it: its `born` version, and what
its inserter had seen of the key: `born_base`, NONE or a delete), the highest delete seen
(`dead`), and per column the version that wrote its value and the version it replaced.
Columns not in `cols` carry the born version (an insert writes every column at once).

Merging two states is a join (commutative, associative, idempotent), so every member ends
with the same row whatever order the changes arrive in:

- different incarnations: the later-born one wins whole (two inserts under one key are two
  different rows, never mixed column by column); the other is an insert collision when its
  winner's inserter had not seen it;
- one incarnation: per column the higher (hlc, origin) wins; the loser is a conflict when
  the winner's writer did not replace exactly that version (it had not seen it);
- the row is alive while its highest delete is older than its incarnation: a delete wins
  over concurrent updates, and a re-insert after a delete wins over everything older.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Version = tuple[int, str]  # (hlc, origin); compared as a tuple, ties to the higher origin id
NONE: Version = (0, "")
Values = dict[str, Any]


@dataclass(frozen=True)
class RowState:
    """One row's state on one member."""

    born: Version
    born_base: Version = NONE
    dead: Version = NONE
    cols: dict[str, tuple[Version, Version]] = field(default_factory=dict)  # col -> (version, base)
    values: Values | None = None  # the row when alive

    @property
    def alive(self) -> bool:
        """Whether the row exists (its last delete is older than its incarnation)."""
        return self.dead < self.born and self.values is not None

    def version(self, col: str) -> Version:
        """The version that wrote a column's value (NONE: this state lacks the column)."""
        if col in self.cols:
            return self.cols[col][0]
        return self.born if self.values is not None and col in self.values else NONE

    def base(self, col: str) -> Version:
        """The version a column's writer replaced."""
        return self.cols[col][1] if col in self.cols else NONE

    def label(self) -> Version:
        """The state's newest version: its version as stored and sent."""
        return max(self.born, self.dead, *(v for v, _ in self.cols.values()))

    def same(self, other: RowState) -> bool:
        """Whether two states are the same (labels aside; values compared with their types)."""
        if (self.born, self.born_base, self.dead, self.cols) != (
            other.born,
            other.born_base,
            other.dead,
            other.cols,
        ):
            return False
        a, b = self.values, other.values
        if a is None or b is None:
            return a is b
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())


@dataclass(frozen=True)
class Lost:
    """A value overwritten by a concurrent write (kept in the conflict log)."""

    kind: Literal["column", "insert"]
    column: str | None
    loser: Version
    loser_values: Values | None
    winner: Version
    winner_values: Values | None


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def merge(a: RowState, b: RowState) -> tuple[RowState, list[Lost]]:
    """The join of two states of one row, and the concurrent values it overwrote."""
    dead = max(a.dead, b.dead)
    if a.born != b.born:
        win, lose = (a, b) if a.born > b.born else (b, a)
        lost = []
        if lose.alive and win.born_base < lose.born:
            lost.append(Lost("insert", None, lose.born, lose.values, win.born, win.values))
        return _settle(RowState(win.born, win.born_base, dead, win.cols, win.values)), lost
    if dead >= a.born or a.values is None or b.values is None:
        return RowState(a.born, a.born_base, dead, {}, None), []
    cols: dict[str, tuple[Version, Version]] = {}
    values: Values = {}
    lost = []
    for col in sorted({*a.values, *b.values}):
        va, vb = a.version(col), b.version(col)
        win, lose = (a, b) if va >= vb else (b, a)
        values[col] = win.values[col] if win.values is not None else None
        if col in win.cols:
            cols[col] = win.cols[col]
        if va != vb and lose.version(col) != NONE and win.base(col) != lose.version(col):
            lv = lose.values or {}
            lost.append(Lost("column", col, lose.version(col), {col: lv.get(col)}, win.version(col),
                             {col: values[col]}))  # fmt: skip
    return RowState(a.born, a.born_base, dead, cols, values), lost


def _settle(s: RowState) -> RowState:
    return s if s.dead < s.born else RowState(s.born, s.born_base, s.dead, {}, None)


def write(prev: RowState | None, values: Values | None, v: Version) -> RowState | None:
    """The state after a local write read back as `values` (None: the row is gone); None if
    the write changed nothing replicated."""
    if values is None:
        if prev is None or not prev.alive:
            return None
        return RowState(prev.born, prev.born_base, v, {}, None)
    if prev is None or not prev.alive:
        seen = prev.dead if prev is not None else NONE
        return RowState(v, seen, seen, {}, values)  # the caller's dict, built for this write
    old = prev.values or {}
    cols = dict(prev.cols)
    for col, value in values.items():
        if col not in old or not _same(old[col], value):
            cols[col] = (v, prev.version(col))
    if cols == prev.cols:
        return None
    # Columns this member's table lacks (added on others, not migrated here yet) keep theirs.
    return RowState(prev.born, prev.born_base, prev.dead, cols, {**old, **values})


def encode_clocks(s: RowState, label: Version) -> str | None:
    """The state's clocks as stored and sent under a version; None for a plain insert (born
    is the version; its born_base travels as the change's base)."""
    if s.dead == NONE and not s.cols and s.born == label:
        return None
    cols = {c: [v[0], v[1], b[0], b[1]] for c, (v, b) in s.cols.items()}
    return json.dumps([*s.born, *s.born_base, *s.dead, cols], separators=(",", ":"))


def decode_clocks(clocks: str | None, label: Version, values: Values | None, base: Version) -> RowState:
    """A state from its stored or sent form; raise ValueError if the clocks are malformed."""
    if clocks is None:
        if values is None:  # a tombstone written without clocks (older member): its incarnation unknown
            return RowState(base, NONE, label, {}, None)
        return RowState(label, base, NONE, {}, values)
    try:
        bh, bo, xh, xo, dh, do, raw = json.loads(clocks)
        cols = {str(c): ((int(v[0]), str(v[1])), (int(v[2]), str(v[3]))) for c, v in dict(raw).items()}
        state = RowState((int(bh), str(bo)), (int(xh), str(xo)), (int(dh), str(do)), cols, values)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"bad row clocks: {exc}") from exc
    return _settle(state)
