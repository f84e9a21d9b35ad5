"""Data-aware answers (SPEC SF-12): which OK nodes have data fresh enough to be chosen.

Pure: given what each node's clustersync says of its data (`DataFact`) and a hostname's
`max_data_lag`, keep the nodes whose data is ready and lags the freshest OK node by at
most that many seconds, and say why the others were skipped. The filter never leaves a
hostname without an OK node that it had: when no OK node has fresh data (or none is
known), nothing is filtered and the checks alone decide, as without clustersync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import Node


@dataclass(frozen=True, slots=True)
class DataFact:
    """One node's data, as its clustersync control port last said (or why it could not)."""

    ready: bool
    age: float | None  # seconds since its last data exchange; None: never, or unknown
    reason: str = ""  # why not ready: clustersync's readiness reason, or why it did not answer


def usable(
    nodes: Sequence[Node], ok: set[str], facts: Mapping[str, DataFact], max_lag: float | None
) -> tuple[list[Node], str]:
    """The nodes that may be chosen, and the words naming those skipped ("" if none).

    Only OK nodes are judged (the others are not chosen anyway). Off when `max_lag` is
    None or no OK node has ready data with a known age.
    """
    if max_lag is None:
        return list(nodes), ""
    fresh_ages = {
        n.id: fact.age
        for n in nodes
        if n.id in ok and (fact := facts.get(n.id)) is not None and fact.ready and fact.age is not None
    }
    if not fresh_ages:
        return list(nodes), ""
    best_id = min(fresh_ages, key=lambda i: fresh_ages[i])
    best = fresh_ages[best_id]
    kept: list[Node] = []
    skipped: list[str] = []
    for node in nodes:
        if node.id not in ok:
            kept.append(node)
            continue
        fact = facts.get(node.id)
        if fact is None or not fact.ready:
            why = (fact.reason if fact is not None else "") or "no answer from clustersync"
            skipped.append(f"{node.id} skipped: data not ready ({why})")
        elif fact.age is None:
            skipped.append(f"{node.id} skipped: data never synced")
        elif fact.age - best > max_lag:
            lag = f"{fact.age - best:.0f} s > max_data_lag {max_lag:g}"
            skipped.append(f"{node.id} skipped: data lags {best_id} by {lag}")
        else:
            kept.append(node)
    return kept, ", ".join(skipped)  # no "; ": it ends the reason before a basis
