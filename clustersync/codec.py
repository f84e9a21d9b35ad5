"""Row values to JSON text and back (SQLite values: NULL, integer, real, text, blob)."""

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
        return base64.b64decode(obj["$b"])
    return obj


_DECODER = json.JSONDecoder(object_hook=_hook)


def encode_row(columns: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """Encode one row as JSON text, column name to value."""
    return json.dumps(dict(zip(columns, values, strict=True)), default=_default, separators=(",", ":"))


def decode_row(text: str) -> Row:
    """Decode a row encoded by encode_row; raise ValueError if it is not one."""
    row = _DECODER.decode(text)
    if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
        raise ValueError("row data must be a JSON object of column: value")
    for value in row.values():
        if isinstance(value, dict | list):
            raise ValueError("row values must be scalars")
    return row
