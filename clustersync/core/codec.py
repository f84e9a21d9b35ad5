"""Row values and primary keys to JSON text and back (SQLite values: NULL, integer, real, text, blob).

Lossless for every SQLite value: integers stay integers, a REAL is written by Python's
shortest round-trip repr (1/3 comes back bit-exact, 1.0 stays a float), text as text and a
BLOB as {"$b": base64}. Keys are encoded here, in Python, from the values SQLite stored
(never by SQLite's json functions, which print REALs to 15 digits and refuse BLOBs), so a
key's text is the same on every member and maps back to exactly the stored key.
"""

from __future__ import annotations

import base64
import json
from typing import Any

Row = dict[str, Any]


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot store a {type(value).__name__} value")


def _hook(obj: dict[str, Any]) -> object:
    # SQLite values are never objects, so {"$b": ...} can only be an encoded blob.
    if len(obj) == 1 and "$b" in obj:
        encoded = obj["$b"]
        if not isinstance(encoded, str):  # b64decode would raise TypeError: a bad row, not a bug
            raise ValueError(f"a blob must be base64 text, not {type(encoded).__name__}")
        return base64.b64decode(encoded, validate=True)
    return obj


_DECODER = json.JSONDecoder(object_hook=_hook)
# Without the hook: a row without blobs decodes in C alone (no Python call per object).
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner, not in the stubs
_SCALARS = frozenset((str, int, float, bool, type(None)))
# Built once: json.dumps with options builds a new encoder at every call (microseconds per row).
_ROW = json.JSONEncoder(default=_default, separators=(",", ":"))
_KEY = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False)


def encode_json(value: object) -> str:
    """Any JSON value as compact text."""
    return _ROW.encode(value)


def encode_row(columns: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """Encode one row as JSON text, column name to value."""
    return _ROW.encode(dict(zip(columns, values, strict=True)))


def _canonical(value: object) -> object:
    # SQLite compares 1 and 1.0 (and 0.0 and -0.0) as equal keys: one key, one text.
    if isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**63:
        return int(value)
    return value


def encode_key(values: tuple[Any, ...] | list[Any]) -> str:
    """A primary key's values as canonical JSON text (the key of _cs_rows).

    An integral REAL is written as the integer SQLite holds equal to it, so a key has one
    text whichever way the application spelled it; the row's own copy keeps the exact type.
    """
    if len(values) == 1 and type(values[0]) is int:
        return f"[{values[0]}]"  # the common INTEGER PRIMARY KEY, as JSON would write it
    return _KEY.encode([_canonical(v) if type(v) is float else v for v in values])


def decode_key(text: str, width: int) -> list[Any]:
    """The values of a key encoded by encode_key; raise ValueError unless it has width scalars."""
    keys = _DECODER.decode(text)
    if not isinstance(keys, list) or len(keys) != width or any(isinstance(k, dict | list) for k in keys):
        raise ValueError(f"bad primary key {text[:80]!r}: expected {width} value(s)")
    return keys


def _plain(text: str) -> Row | None:
    """The common row, decoded without the hook: one object of scalars (no blob), nothing
    around it; None for anything else (the caller decodes it the full way)."""
    try:
        row, end = _SCAN(text, 0)
    except StopIteration:
        return None
    if (
        end == len(text)
        and type(row) is dict
        and "$b" not in row
        and _SCALARS.issuperset(map(type, row.values()))
    ):
        return row
    return None


def decode_stored(text: str) -> Row:
    """Decode a row copy this database stored itself (checked when it was received)."""
    row: Row | None = _plain(text)
    return _DECODER.decode(text) if row is None else row


def decode_row(text: str) -> Row:
    """Decode a row encoded by encode_row; raise ValueError if it is not one."""
    fast = _plain(text)
    if fast is not None:
        return fast
    row = _DECODER.decode(text)
    if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
        raise ValueError("row data must be a JSON object of column: value")
    for value in row.values():
        if isinstance(value, dict | list):
            raise ValueError("row values must be scalars")
    return row
