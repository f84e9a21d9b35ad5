"""clustersync's JSON on the sync path: orjson (as the code uses it) against the json module.

For a batch of 2,000 rows of 200 bytes as bench/sync.py sends them, the CPU per row of each
step, the json module's way (what clustersync did before issue 19a) and the current way, in
the same process: the sender's message to JSON (Channel.send), the receiver's JSON to
message (Channel.recv) and check of the changes (session.receive_changes), the apply's row
and key decode, and the capture's row encode. Both ways give the same values and texts
(tests/clustersync/test_json_exact.py); best of 9 repeats of process CPU time.

Run: .venv/bin/python -m bench.json_codec [--rows 2000]
"""

from __future__ import annotations

import argparse
import json
import time
import timeit
from collections.abc import Callable
from typing import Any

from clustersync.core import codec
from clustersync.store.changes import Change
from clustersync.wire.protocol import encode_message

_HOOKED = json.JSONDecoder(object_hook=codec._hook)
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner, not in the stubs
_KEY = json.JSONEncoder(default=codec._default, separators=(",", ":"))


def _json_row(text: str) -> dict[str, Any]:
    """decode_row on the json module alone, as before issue 19a: the C scanner without the
    blob hook for a plain row, else the hooked decoder and decode_row's checks."""
    row, end = _SCAN(text, 0)
    if end == len(text) and type(row) is dict and "$b" not in row:
        return row  # (before, also a check that the values are scalars: cheaper here)
    row = _HOOKED.decode(text)
    if not isinstance(row, dict) or any(isinstance(v, dict | list) for v in row.values()):
        raise ValueError("not a row")
    return row


def _cpu_per_row(function: Callable[[], object], rows: int) -> float:
    """Microseconds of process CPU per row, best of 9."""
    return min(timeit.repeat(function, number=3, repeat=9, timer=time.process_time)) / 3 / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    n = parser.parse_args().rows
    values = [{"id": i, "v": f"{i:010d}" + "x" * 190} for i in range(n)]
    rows = [_KEY.encode(v) for v in values]
    items = [
        ["items", f"[{i}]", (1_764_775_534_000 << 16) + i, "a" * 32, 0, rows[i], 0, ""] for i in range(n)
    ]
    message = {"type": "batch", "changes": items, "ts": time.time()}
    payload = json.dumps(message, separators=(",", ":")).encode()
    steps: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "send: message to JSON",
            lambda: json.dumps(message, separators=(",", ":")).encode(),
            lambda: encode_message(message),
        ),
        ("receive: JSON to message", lambda: json.loads(payload), lambda: codec.loads(payload)),
        (
            "receive: check the changes",
            lambda: [Change.from_wire(i) for i in items],
            lambda: Change.many_from_wire(items),
        ),
        (
            "apply: decode a row",
            lambda: [_json_row(r) for r in rows],
            lambda: [codec.decode_row(r) for r in rows],
        ),
        (
            "apply: decode a key",
            lambda: [_HOOKED.decode(i[1]) for i in items],  # (before, also the key's checks)
            lambda: [codec.decode_key(i[1], 1) for i in items],
        ),
        (
            "capture: encode a row",
            lambda: [_KEY.encode(v) for v in values],
            lambda: [codec.encode_json(v) for v in values],
        ),
    ]
    print(f"{n} rows of 200 bytes, CPU us per row (best of 9): json module / current, ratio")
    total = [0.0, 0.0]
    for name, before, now in steps:
        a, b = _cpu_per_row(before, n), _cpu_per_row(now, n)
        total[0] += a
        total[1] += b
        print(f"{name:28s} {a:6.2f} / {b:5.2f} us  {a / b:4.1f}x")
    print(f"{'all steps':28s} {total[0]:6.2f} / {total[1]:5.2f} us  {total[0] / total[1]:4.1f}x")


if __name__ == "__main__":
    main()
