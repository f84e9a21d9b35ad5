"""Version vectors: per origin node, the highest HLC a member has (all below included)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Vector = dict[str, int]


def merge(a: Mapping[str, int], b: Mapping[str, int]) -> Vector:
    """The pointwise maximum of two vectors."""
    out = dict(a)
    for origin, hlc in b.items():
        if hlc > out.get(origin, 0):
            out[origin] = hlc
    return out


def covers(vector: Mapping[str, int], origin: str, hlc: int) -> bool:
    """Whether a member with this vector already has the version (origin, hlc)."""
    return vector.get(origin, 0) >= hlc


def floor(vectors: Iterable[Mapping[str, int]]) -> Vector:
    """The pointwise minimum: what every one of these members has (missing origin: 0)."""
    items = list(vectors)
    if not items:
        return {}
    origins = set().union(*items)
    return {o: min(v.get(o, 0) for v in items) for o in origins}


def advance(vector: Mapping[str, int], versions: Iterable[tuple[str, int]]) -> Vector:
    """The vector after taking in versions sent in HLC order (per origin, the highest)."""
    out = dict(vector)
    for origin, hlc in versions:
        if hlc > out.get(origin, 0):
            out[origin] = hlc
    return out


def validate(value: object) -> Vector:
    """Check a vector received from the network; raise ValueError if malformed."""
    if not isinstance(value, dict):
        raise ValueError("vector must be an object")
    for origin, hlc in value.items():
        if not isinstance(origin, str) or type(hlc) is not int or hlc < 0:
            raise ValueError("vector entries must be origin: non-negative integer")
    return dict(value)
