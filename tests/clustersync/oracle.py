"""Per-column last-writer-wins on the hybrid clock, computed from every local write ever made.

Independent of merge.py's pairwise join: each stamped change is read back as the write it
was (an insert, an update of some columns, a delete), and the expected row is found by plain
maxima over all writes of a key: the row exists while its newest insert or update is later
than its newest delete; each column holds the value of the latest write that set it (an
insert sets every column). Also what the conflict logs must hold at least.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from clustersync.core.codec import decode_row
from clustersync.core.merge import NONE, Version, decode_clocks
from clustersync.store.database import Change

Key = tuple[str, str]  # (table, key text)
Entry = tuple[Key, str, str | None, Version]  # a conflict log entry: key, kind, column, loser


@dataclass
class Writes:
    """Every write of one key."""

    inserts: dict[Version, dict[str, Any]] = field(default_factory=dict)
    deletes: set[Version] = field(default_factory=set)
    # (version, incarnation) -> column -> (value, the version the writer replaced)
    updates: dict[tuple[Version, Version], dict[str, tuple[Any, Version]]] = field(default_factory=dict)

    def versions(self) -> set[Version]:
        return {*self.inserts, *self.deletes, *(v for v, _ in self.updates)}


class Oracle:
    """The expected replicated state, fed with every change stamp() returned."""

    def __init__(self) -> None:
        self.keys: dict[Key, Writes] = {}

    def record(self, changes: list[Change]) -> None:
        for c in changes:
            v = (c.hlc, c.origin)
            values = None if c.data is None else decode_row(c.data)
            s = decode_clocks(c.clocks, v, values, (c.base_hlc, c.base_origin))
            w = self.keys.setdefault((c.tbl, c.pk), Writes())
            if c.deleted:
                w.deletes.add(v)
            elif s.born == v:
                assert values is not None
                w.inserts[v] = values
            else:
                assert values is not None
                changed = {col: (values[col], base) for col, (ver, base) in s.cols.items() if ver == v}
                w.updates[(v, s.born)] = changed

    def _columns(self, w: Writes) -> dict[str, list[tuple[Version, Any]]]:
        """Per column, every write that set it: (version, value)."""
        cols: dict[str, list[tuple[Version, Any]]] = {}
        for v, row in w.inserts.items():
            for col, x in row.items():
                cols.setdefault(col, []).append((v, x))
        for (v, _), changed in w.updates.items():
            for col, (value, _) in changed.items():
                cols.setdefault(col, []).append((v, value))
        return cols

    def rows(self) -> dict[Key, dict[str, Any]]:
        """(table, key text) -> the row expected on every member (absent keys: no row)."""
        out = {}
        for pk, w in self.keys.items():
            newest = max([*w.inserts, *(v for v, _ in w.updates)], default=NONE)
            if newest <= max(w.deletes, default=NONE):
                continue
            out[pk] = {col: max(ws, key=lambda x: x[0])[1] for col, ws in self._columns(w).items()}
        return out

    def expected_conflicts(self) -> set[Entry]:
        """((table, key), kind, column, loser version) that some member's conflict log must hold:
        an insert no delete followed, replaced by a later insert (whose writer cannot have seen
        it); an update later than the latest insert, overwritten by a write that did not
        replace exactly it."""
        out: set[Entry] = set()
        for pk, w in self.keys.items():
            if not w.inserts:
                continue
            born = max(w.inserts)
            dead = max(w.deletes, default=NONE)
            out |= {(pk, "insert", None, i) for i in w.inserts if i != born and dead < i}
            for col, ws in self._columns(w).items():
                final = max(v for v, _ in ws)
                superseded = {ch[col][1] for ch in w.updates.values() if col in ch}  # replaced knowingly
                out |= {
                    (pk, "column", col, v)
                    for v, _ in ws
                    if v != final and v > born and v not in w.inserts and v not in superseded
                }
        return out


def logged(db: Any) -> set[Entry]:
    """A member's conflict log as oracle entries."""
    rows = db.execute("SELECT tbl, pk, kind, col, hlc, origin FROM _cs_conflicts").fetchall()
    return {((tbl, pk), kind, col, (hlc, origin)) for tbl, pk, kind, col, hlc, origin in rows}


def key_of(key: Key) -> Any:
    """The first key column's value."""
    return json.loads(key[1])[0]
