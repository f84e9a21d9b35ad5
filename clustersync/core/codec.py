"""Row values and primary keys to JSON text and back (SQLite values: NULL, integer, real, text, blob).

Lossless for every SQLite value: integers stay integers, a REAL is written by Python's
shortest round-trip repr (1/3 comes back bit-exact, 1.0 stays a float), text as text and a
BLOB as {"$b": base64}. Keys are encoded here, in Python, from the values SQLite stored
(never by SQLite's json functions, which print REALs to 15 digits and refuse BLOBs), so a
key's text is the same on every member and maps back to exactly the stored key.

Decoding goes through orjson (Rust, several times faster than the json module) whenever its
answer is exactly the json module's: orjson refuses NaN and Infinity, lone surrogates, numbers
beyond a double, and reads an integer beyond 64 bits as a float. Whatever it refuses, and any
text whose value holds a float of 2**63 or more (where such an integer may hide), is decoded
again by the json module, which gives today's values and today's errors. A row is written by
orjson only when its text is byte for byte the json module's (no float, ASCII text);
keys are always written by the json module: a key's text must never change.
"""

from __future__ import annotations

import base64
import binascii
import json
from itertools import chain
from operator import methodcaller
from typing import Any

import orjson

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
_SCALARS = frozenset((str, int, float, bool, type(None)))
_ATOMS = frozenset((str, int, bool, type(None)))
_DICT = {dict}
_HAS_BLOB_KEY = methodcaller("__contains__", "$b")  # a column named "$b": the json module sorts it out
_PLAIN = _ATOMS | {bytes}  # a row of these orjson writes as the json module does
_BIG = float(2**63)  # orjson reads an integer beyond 64 bits as a float at least this large
# A byte table keeping digits and blanking the rest: an integer beyond 64 bits has 19 digits
# or more (the test for them: faster than a walk of the value, which only such texts need).
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_RUN = b"0" * 19
# Built once: json.dumps with options builds a new encoder at every call (microseconds per row).
_ROW = json.JSONEncoder(default=_default, separators=(",", ":"))
_KEY = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False)


def _same_text(row: dict[Any, Any]) -> str | None:
    """The row's text by orjson when it is byte for byte _ROW's, else None: its values text,
    integers, booleans, nulls and blobs (no float: orjson's form of some floats differs from
    repr's, and between its versions: 1e16 or 1e+16, 0.00001 for 1e-05), its text ASCII
    without DEL (orjson writes other characters raw, the json module escapes them)."""
    if not _PLAIN.issuperset(map(type, row.values())):
        return None
    try:
        text = orjson.dumps(row, default=_default)
    except TypeError:  # a key that is not a string, an integer beyond 64 bits, a lone surrogate
        return None
    return text.decode() if text.isascii() and b"\x7f" not in text else None


def encode_json(value: object) -> str:
    """Any JSON value as compact text (a row of plain values in orjson: the same text)."""
    text = _same_text(value) if type(value) is dict else None
    return _ROW.encode(value) if text is None else text


def encode_row(columns: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """Encode one row as JSON text, column name to value."""
    return encode_json(dict(zip(columns, values, strict=True)))


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


def _fast(text: str | bytes) -> Any:
    """orjson's value of the text; None when orjson refuses it (or the text is `null`)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _exact(values: Any) -> bool:
    """Whether these scalars are what the json module reads too (no float at or past 2**63)."""
    return all(-_BIG < v < _BIG for v in values if type(v) is float)


def wild_float(value: object) -> bool:
    """Whether a float at or past 2**63 in magnitude, an infinity or a NaN is anywhere in the
    value (its lists, tuples and dicts' values walked)."""
    if type(value) is float:
        return not -_BIG < value < _BIG
    if type(value) is dict:
        value = list(value.values())
    elif type(value) is not list and type(value) is not tuple:
        return False
    return not _ATOMS.issuperset(map(type, value)) and any(map(wild_float, value))


def loads(data: str | bytes) -> Any:
    """json.loads, the same values and errors, in orjson when that gives exactly the same."""
    value = _fast(data)
    if value is None:
        return json.loads(data)
    digits = (data.encode() if isinstance(data, str) else data).translate(_DIGITS)
    if _RUN in digits and wild_float(value):  # maybe an integer beyond 64 bits, read as a float
        return json.loads(data)
    return value


def decode_key(text: str, width: int) -> list[Any]:
    """The values of a key encoded by encode_key; raise ValueError unless it has width scalars."""
    keys = _fast(text)
    if type(keys) is list and len(keys) == width:
        kinds = set(map(type, keys))
        if kinds <= _ATOMS or (kinds <= _SCALARS and _exact(keys)):
            return keys
    keys = _DECODER.decode(text)
    if not isinstance(keys, list) or len(keys) != width or any(isinstance(k, dict | list) for k in keys):
        raise ValueError(f"bad primary key {text[:80]!r}: expected {width} value(s)")
    return keys


def _quick(text: str) -> Row | None:
    """The row as orjson reads it, blobs decoded, when that is exactly what the json module
    with _hook reads and a row (an object of scalars); None otherwise (decode it the full way)."""
    try:
        row = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(row) is not dict or "$b" in row:
        return None  # not an object, or a column "$b" (rare: the json module sorts it out)
    if _ATOMS.issuperset(map(type, row.values())):
        return row  # the common row: no float, no blob
    types = set(map(type, row.values()))
    if dict in types:  # blobs, {"$b": base64}: decoded as _hook does
        for name, value in row.items():
            encoded = value.get("$b") if type(value) is dict and len(value) == 1 else value
            if type(value) is dict:
                if type(encoded) is not str:
                    return None
                try:
                    row[name] = base64.b64decode(encoded, validate=True)
                except binascii.Error:
                    return None
        types.discard(dict)
    if not _SCALARS.issuperset(types) or (float in types and not _exact(row.values())):
        return None
    return row


def decode_stored(text: str) -> Row:
    """Decode a row copy this database stored itself (checked when it was received)."""
    row = _quick(text)
    return _DECODER.decode(text) if row is None else row


def decode_rows(texts: list[str]) -> list[Row]:
    """decode_row of each text (the same rows and errors). The common batch (objects of
    text, integers and nulls: no float, no blob) is read and checked without a Python step
    per row; any other goes row by row."""
    try:
        rows = list(map(orjson.loads, texts))
    except orjson.JSONDecodeError:
        rows = []
    if (
        rows
        and set(map(type, rows)) == _DICT
        and not any(map(_HAS_BLOB_KEY, rows))
        and _ATOMS.issuperset(map(type, chain.from_iterable(map(dict.values, rows))))
    ):
        return rows
    return [decode_row(text) for text in texts]  # a float, a blob, or not a row: the whole way


def decode_row(text: str) -> Row:
    """Decode a row encoded by encode_row; raise ValueError if it is not one."""
    fast = _quick(text)
    if fast is not None:
        return fast
    row = _DECODER.decode(text)
    if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
        raise ValueError("row data must be a JSON object of column: value")
    for value in row.values():
        if isinstance(value, dict | list):
            raise ValueError("row values must be scalars")
    return row
