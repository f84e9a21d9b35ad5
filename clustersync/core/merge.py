"""Pure: a row's replicated state and its merge (SPEC CL-5, CL-15): per-column last-writer-wins.

A row's state is a map of last-writer-wins registers plus a last-writer-wins existence flag,
each ordered by its version (hlc, origin) on the hybrid clock:

- every column holds the value of its latest write and that write's version (and the version
  the writer replaced: its base, to tell a plain update from a concurrent one); an insert
  writes every column at its version, an update the columns it changed;
- `dead` is the latest delete; the row exists while its newest write (an insert or an update
  of any column) is later than `dead`;
- a tombstone keeps its columns' versions and values, so that an update later than the
  delete, from a member that had not seen it, brings the row back with the right value in
  every column, whatever order the changes arrive in;
- `born` is the latest insert, and `born_base` the delete its inserter had seen: only to tell
  an insert collision (an insert whose writer had not seen an existing row of that key).

Merging two states takes the maximum of every register, so it is a join (commutative,
associative, idempotent) and every member ends with the same row whatever order changes
arrive in. A re-insert after a delete writes every column at its version, so the older
incarnation's values never leak into it; an update of the older incarnation later (by the
hybrid clock) than the re-insert wins its column, like any later write. Columns not in `cols`
carry the born version.

Overwritten writes the merge can tell were concurrent are returned (the conflict log):
"column", a value its winner's writer had not replaced; "insert", a live row replaced by an
insert whose writer had not seen it (the columns of either row written later still win);
"delete", an update that lost to a later delete whose writer had not seen it (the loser has
values) or a delete that lost to a later write from a member that had not seen it (no values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from .codec import decode_row, encode_json

Version = tuple[int, str]  # (hlc, origin); compared as a tuple, ties to the higher origin id
NONE: Version = (0, "")
Values = dict[str, Any]
_V2 = 2  # clocks of a state the form before per-column LWW cannot hold (see encode_clocks)


class RowState(NamedTuple):
    """One row's state on one member (a named tuple: two are built per row applied)."""

    born: Version
    born_base: Version
    dead: Version
    cols: dict[str, tuple[Version, Version]]  # col -> (version, base)
    values: Values | None  # every column's value (kept by a tombstone; None: unknown)

    def newest(self) -> Version:
        """The version of the row's newest write (insert or update)."""
        newest = self.born
        for v, _ in self.cols.values():
            if v > newest:
                newest = v
        return newest

    @property
    def alive(self) -> bool:
        """Whether the row exists (its newest write is later than its last delete)."""
        return self.values is not None and self.newest() > self.dead

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
        return max(self.newest(), self.dead)

    def same(self, other: RowState) -> bool:
        """Whether two states are the same (labels aside; values compared with their types)."""
        if self is other:
            return True
        if self.cols != other.cols or self[:3] != other[:3]:  # (born, born_base, dead)
            return False
        a, b = self.values, other.values
        if a is None or b is None:
            return a is b
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())


@dataclass(frozen=True)
class Lost:
    """A write overwritten by a concurrent one (kept in the conflict log)."""

    kind: Literal["column", "insert", "delete"]
    column: str | None
    loser: Version
    loser_values: Values | None
    winner: Version
    winner_values: Values | None


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def merge(a: RowState, b: RowState) -> tuple[RowState, list[Lost]]:
    """The join of two states of one row, and the concurrent writes it overwrote (one of the
    two itself when it already holds everything of the other and nothing was overwritten)."""
    if _covers(b, a):  # the common update: written on top of (or later than) what we hold
        return b, []
    if _covers(a, b):
        return a, []
    return join(a, b)


def join(a: RowState, b: RowState) -> tuple[RowState, list[Lost]]:
    """merge() without its shortcut: the join built register by register."""
    first = a if (a.born, a.born_base) >= (b.born, b.born_base) else b
    born, born_base, dead = first.born, first.born_base, max(a.dead, b.dead)
    lost: list[Lost] = []
    cols: dict[str, tuple[Version, Version]] = {}
    values: Values | None = None
    if a.values is not None or b.values is not None:
        values = {}
        for col in sorted({*(a.values or ()), *(b.values or ())}):
            va, vb = a.version(col), b.version(col)
            win, lose = (a, b) if va >= vb else (b, a)
            v, base = win.version(col), win.base(col)
            values[col] = (win.values or {})[col]
            if v != born:
                cols[col] = (v, base)
            if va != vb and _concurrent(win, lose, col):
                was = {col: (lose.values or {}).get(col)}
                lost.append(Lost("column", col, lose.version(col), was, v, {col: values[col]}))
    out = RowState(born, born_base, dead, cols, values)
    if a.born != b.born:
        win, lose = (a, b) if a.born > b.born else (b, a)
        if lose.values is not None and lose.dead < lose.born and win.born_base < lose.born:
            lost.append(Lost("insert", None, lose.born, lose.values, win.born, values))
    return out, lost + _deletes(a, b, out)


def _covers(x: RowState, y: RowState) -> bool:
    """Whether joining y into x gives x (the same state) and overwrites nothing concurrent: each
    of join()'s choices made by x, or by y with the same register and value (a tie goes to
    join's first argument), and none of its lost writes. Tombstones without values and states
    not as write() and join() build them (a column of cols with the born version or without a
    value) are left to join(). Per column as version(), base() and _concurrent() decide it."""
    xv, yv = x.values, y.values
    if xv is None or yv is None or x.dead < y.dead or (x.born, x.born_base) < (y.born, y.born_base):
        return False
    if not xv.keys() >= yv.keys():
        return False
    born, yborn, xcols, ycols = x.born, y.born, x.cols, y.cols
    if born <= NONE:  # (no insert version: a column only x has would tie with y's NONE)
        return False
    newest = born
    for col, (vx, base) in xcols.items():  # the columns x's updates wrote
        if vx == born or col not in xv:
            return False
        if vx > newest:
            newest = vx
        yc = ycols.get(col)
        vy = yc[0] if yc is not None else yborn if col in yv else NONE
        if vy > vx:
            return False
        if vy < vx:
            if base != vy and _concurrent(x, y, col):  # (replaced knowingly: not concurrent)
                return False
        elif col not in yv or base != (NONE if yc is None else yc[1]) or not _same(xv[col], yv[col]):
            return False
    for col, (vy, _) in ycols.items():  # y's updates of columns holding x's insert value
        if col not in xv or col in xcols or vy < born:
            continue  # (an update earlier than x's insert loses to it, never concurrently)
        if vy > born or col not in yv or not _same(xv[col], yv[col]):  # (a tie: join keeps no register)
            return False
    if born == yborn:  # the other columns: both inserts' values, one version, so the same value
        for col, value in xv.items():
            if col in yv and col not in xcols and col not in ycols:
                other = yv[col]
                if type(other) is not type(value) or other != value:  # _same()
                    return False
    if x.born != y.born and y.dead < y.born and x.born_base < y.born:
        return False  # an insert collision
    return newest > x.dead or not y.alive or newest >= y.newest()  # else a write lost to a delete


def _concurrent(win: RowState, lose: RowState, col: str) -> bool:
    """Whether the winner's write of a column had not seen the loser's value."""
    lv, wv, base = lose.version(col), win.version(col), win.base(col)
    if lv == NONE or base == lv or wv == win.born:
        return False  # nothing lost, replaced knowingly, or an insert's value (a collision or re-insert)
    if lv == lose.born:  # an insert's value: only an update of an older incarnation had not seen it
        return base < lv
    return True


def _deletes(a: RowState, b: RowState, out: RowState) -> list[Lost]:
    """An update that lost to a later delete, or a delete to a later write, unseen by its writer."""
    lost = []
    for s, t in ((a, b), (b, a)):
        if out.alive and not s.alive and s.dead == out.dead and t.dead < s.dead:
            lost.append(Lost("delete", None, s.dead, None, out.newest(), out.values))
        elif not out.alive and s.alive and t.newest() < s.newest():
            lost.append(Lost("delete", None, s.newest(), s.values, out.dead, None))
    return lost


def write(prev: RowState | None, values: Values | None, v: Version) -> RowState | None:
    """The state after a local write read back as `values` (None: the row is gone), called
    only when the row was written since the last stamp; None if nothing replicated changed."""
    if values is None:
        # A delete, or a row inserted and deleted again between two stamps: its delete is still
        # a write later than anything another member wrote meanwhile (per-key LWW), so it is
        # versioned even if this member never versioned the row or had it deleted already.
        if prev is None:
            return RowState(NONE, NONE, v, {}, None)
        return RowState(prev.born, prev.born_base, v, prev.cols, prev.values)  # keeps its values
    if prev is None:
        return RowState(v, NONE, NONE, {}, values)  # the caller's dict, built for this write
    if not prev.alive:  # a re-insert: every column at its version, the delete it saw as its base
        old = prev.values or {}
        kept = {c: (prev.version(c), prev.base(c)) for c in old if c not in values}
        # Columns this member's table lacks (added on others, not migrated here yet) keep theirs.
        return RowState(v, prev.dead, prev.dead, kept, {**old, **values} if kept else values)
    old = prev.values or {}
    cols = dict(prev.cols)
    for col, value in values.items():
        if col not in old or not _same(old[col], value):
            cols[col] = (v, prev.version(col))
    if cols == prev.cols:
        return None
    return RowState(prev.born, prev.born_base, prev.dead, cols, {**old, **values})


def encode_clocks(s: RowState, label: Version) -> str | None:
    """The state's clocks as stored and sent under a version; None for a plain insert (born
    is the version; its born_base travels as the change's base).

    A live row whose last delete is older than its insert keeps the form members before
    per-column LWW wrote ([born, born_base, dead, cols]); a tombstone (its values ride in
    the clocks: a tombstone's change has no data) or a row written again after a delete
    without a re-insert is [2, born, born_base, dead, cols, values]. Members of different
    versions never exchange rows (the session's version gate), so only this member's own
    stored rows and its backups are ever in the older form.
    """
    if s.dead == NONE and not s.cols and s.born == label and s.values is not None:
        return None
    cols = {c: [v[0], v[1], b[0], b[1]] for c, (v, b) in s.cols.items()}
    if s.values is None or (s.alive and s.dead < s.born):  # (a tombstone of the older form: no values)
        return json.dumps([*s.born, *s.born_base, *s.dead, cols], separators=(",", ":"))
    data = None if s.alive else encode_json(s.values)
    return json.dumps([_V2, *s.born, *s.born_base, *s.dead, cols, data], separators=(",", ":"))


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner, not in the stubs


def _loads(text: str) -> Any:
    """json.loads, the common text (one value, nothing around it) without its Python layers."""
    if type(text) is str:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            pass  # no value at the start: json.loads says why
        else:
            if end == len(text):
                return value
    return json.loads(text)


def decode_clocks(clocks: str | None, label: Version, values: Values | None, base: Version) -> RowState:
    """A state from its stored or sent form; raise ValueError if the clocks are malformed."""
    if clocks is None:
        if values is None:  # a tombstone written without clocks (older member): its incarnation unknown
            return RowState(base, NONE, label, {}, None)
        return RowState(label, base, NONE, {}, values)
    try:
        fields = _loads(clocks)
        older = len(fields) == 7
        if older:
            bh, bo, xh, xo, dh, do, raw = fields
        else:
            v2, bh, bo, xh, xo, dh, do, raw, data = fields
            if v2 != _V2 or (data is None) == (values is None):
                raise ValueError("a tombstone's values ride in its clocks, a live row's in its data")
            values = decode_row(data) if values is None else values
        cols: dict[str, tuple[Version, Version]] = {}
        for c, v in (raw if type(raw) is dict else dict(raw)).items():
            cols[str(c)] = ((int(v[0]), str(v[1])), (int(v[2]), str(v[3])))
        born, dead = (int(bh), str(bo)), (int(dh), str(do))
        state = RowState(born, (int(xh), str(xo)), dead, cols, values)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"bad row clocks: {exc}") from exc
    if older:
        if dead >= born:  # the older form's tombstone: no values kept
            return RowState(born, state.born_base, dead, {}, None)
    elif state.alive != (fields[-1] is None):
        said = "alive" if state.alive else "gone"
        raise ValueError(f"bad row clocks: the versions say the row is {said}, the change the opposite")
    return state
