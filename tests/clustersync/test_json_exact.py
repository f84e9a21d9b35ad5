"""The orjson paths read and write exactly what the json module does: same values, same types
(floats to the bit, -0.0 and NaN included), same errors with the same messages."""

from __future__ import annotations

import base64
import json
import math
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clustersync.core import codec
from clustersync.core.errors import ProtocolError
from clustersync.wire.protocol import _LENGTH, Channel, encode_message

# Integers at and past the 64-bit edges (orjson reads those beyond as floats), every float.
EDGES = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64), 10**30])
INTS = st.one_of(st.integers(), EDGES, st.integers(min_value=-(2**70), max_value=2**70))
FLOATS = st.one_of(
    st.floats(),  # NaN, infinities, -0.0, subnormals, huge and tiny
    st.sampled_from([1e16, 1e22, 9.2e18, 2.0**63, -(2.0**63), 1.8446744073709552e19, 5e-324]),
)
TEXT = st.text(st.characters(codec="utf-8") | st.characters(), max_size=12)  # lone surrogates too
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def ident(value: Any) -> Any:
    """The value with every float as its bits and every item with its type: == means identical."""
    if isinstance(value, float):
        return (float, struct.pack("<d", value))
    if isinstance(value, dict):
        return (dict, [(ident(k), ident(v)) for k, v in value.items()])
    if isinstance(value, list):
        return (list, [ident(v) for v in value])
    return (type(value), value)


def outcome(function: Any, *args: Any) -> Any:
    """What the call gives: its value (identity form), or its error's type and message."""
    try:
        return ident(function(*args))
    except (ValueError, RecursionError) as exc:
        return (type(exc), str(exc))


def texts(value: Any) -> list[str]:
    """The ways a peer's json module may write the value."""
    return [
        json.dumps(value),
        json.dumps(value, separators=(",", ":")),
        json.dumps(value, ensure_ascii=False),
        json.dumps(value, indent=1),
    ]


# -- codec.loads: json.loads' twin ------------------------------------------------------------


@given(VALUES)
@settings(max_examples=400)
def test_loads_reads_what_json_reads(value: Any) -> None:
    for text in texts(value):
        assert outcome(codec.loads, text) == outcome(json.loads, text)
        data = text.encode("utf-8", "surrogatepass")
        assert outcome(codec.loads, data) == outcome(json.loads, data)


JSONISH = st.text(
    st.sampled_from(list('{}[],:"\\ .-+eE0123456789aflnrstuINy\t\n\x00\u00e9\ud800')), max_size=40
)


@given(JSONISH)
@settings(max_examples=1000)
@example('{"a":1,"a":2}')
@example("[1e400, -1e400, NaN, Infinity, -Infinity]")
@example('"\\ud800"')
@example("[18446744073709551616, -9223372036854775809]")
@example('["18446744073709551616", 1.5, 9223372036854775807]')  # long digits, no big integer
@example("[1234567890123456789, 1e19]")
@example(" [1.5] ")
@example("01")
@example("[1,]")
@example("1" * 5000)
@example("\ufeff[1]")
def test_loads_on_any_text_gives_json_loads_answer_or_error(text: str) -> None:
    assert outcome(codec.loads, text) == outcome(json.loads, text)
    data = text.encode("utf-8", "surrogatepass")
    assert outcome(codec.loads, data) == outcome(json.loads, data)


@pytest.mark.parametrize("data", [b"\xff\xfe[\x001\x00]\x00", b"[\x80]", b'"\xed\xa0\x80"', b"", b"null"])
def test_loads_on_odd_bytes_is_json_loads(data: bytes) -> None:
    assert outcome(codec.loads, data) == outcome(json.loads, data)


# -- rows and keys: the json module with the blob hook is the reference --------------------


def reference_row(text: str) -> dict[str, Any]:
    """decode_row as it was, on the json module alone."""
    row = json.loads(text, object_hook=codec._hook)
    if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
        raise ValueError("row data must be a JSON object of column: value")
    for value in row.values():
        if isinstance(value, dict | list):
            raise ValueError("row values must be scalars")
    return row


def reference_key(text: str, width: int) -> list[Any]:
    keys = json.loads(text, object_hook=codec._hook)
    if not isinstance(keys, list) or len(keys) != width or any(isinstance(k, dict | list) for k in keys):
        raise ValueError(f"bad primary key {text[:80]!r}: expected {width} value(s)")
    return keys


ROW_VALUES = st.one_of(SCALARS, st.binary(max_size=8))
BLOBISH = st.one_of(
    st.binary(max_size=8).map(lambda b: {"$b": base64.b64encode(b).decode()}),
    st.sampled_from([{"$b": 1}, {"$b": None}, {"$b": "!!"}, {"$b": "QQ"}, {"$b": "QQ==", "x": 1}]),
    st.sampled_from([{"$b": []}]),
    st.sampled_from([{"$b": {"$b": "QQ=="}}, {"x": {"$b": "QQ=="}}, [1], {}]),
)


def encoded(value: Any) -> str:
    return json.dumps(value, default=codec._default)


@given(st.dictionaries(TEXT, ROW_VALUES, max_size=6))
@settings(max_examples=400)
def test_rows_decode_as_before(row: dict[str, Any]) -> None:
    text = encoded(row)
    assert outcome(codec.decode_row, text) == outcome(reference_row, text)
    assert outcome(_first_of_rows, text) == outcome(reference_row, text)
    stored = json.JSONDecoder(object_hook=codec._hook).decode
    assert outcome(codec.decode_stored, text) == outcome(stored, text)


@given(st.dictionaries(TEXT, st.one_of(ROW_VALUES, BLOBISH), max_size=4), st.booleans())
@settings(max_examples=300)
@example({"$b": "QQ=="}, False)
@example({"$b": 5}, False)
@example({"$b": "QQ==", "other": 1}, False)
def test_blobs_and_bad_shapes_decode_or_fail_as_before(row: dict[str, Any], wrap: bool) -> None:
    text = encoded([row] if wrap else row)
    assert outcome(codec.decode_row, text) == outcome(reference_row, text)
    assert outcome(_first_of_rows, text) == outcome(reference_row, text)


@given(JSONISH)
@settings(max_examples=500)
@example('{"a": NaN, "b": Infinity}')
@example('{"a": 1e400}')
@example('{"a": 18446744073709551616}')
@example('{"a": "\\ud800"}')
def test_any_row_text_decodes_or_fails_as_before(text: str) -> None:
    assert outcome(codec.decode_row, text) == outcome(reference_row, text)
    assert outcome(_first_of_rows, text) == outcome(reference_row, text)


def _first_of_rows(text: str) -> Any:
    """codec.decode_rows (a batch's rows at once, as the apply decodes them) of one text."""
    (row,) = codec.decode_rows([text])
    return row


def _reference_rows(texts: list[str]) -> list[dict[str, Any]]:
    return [reference_row(text) for text in texts]


ROW_TEXTS = st.one_of(
    st.dictionaries(TEXT, st.one_of(ROW_VALUES, BLOBISH), max_size=4).map(encoded),
    st.dictionaries(st.sampled_from(["id", "v", "$b"]), st.one_of(st.integers(), TEXT), max_size=3).map(
        encoded
    ),
    JSONISH,
)


@given(st.lists(ROW_TEXTS, max_size=6))
@settings(max_examples=500)
@example(['{"id":1,"v":"a"}', '{"id":2,"v":"b"}'])  # the common batch
@example(['{"id":1,"v":"a"}', '{"id":2,"v":1.5}'])  # one float among plain rows
@example(['{"id":1}', '{"id":2,"v":{"$b":"QQ=="}}'])  # one blob
@example(['{"id":1}', '{"$b":"QQ=="}'])  # a column named "$b"
@example(['{"id":1}', "[1]", "{"])  # not a row, then not JSON: the first error in order
@example(['{"id":1}', '{"id":18446744073709551616}'])  # beyond 64 bits
def test_a_batch_of_rows_decodes_as_each_row_did(texts: list[str]) -> None:
    """decode_rows over many texts (the apply's batch): each row's value, or the first error."""
    assert outcome(codec.decode_rows, texts) == outcome(_reference_rows, texts)


@given(st.lists(st.one_of(ROW_VALUES, BLOBISH), max_size=3), st.integers(0, 3))
@settings(max_examples=300)
@example([2**64], 1)
@example([-(2**63) - 1, "a"], 2)
@example([float("inf")], 1)
@example([-0.0], 1)
def test_keys_decode_as_before(values: list[Any], width: int) -> None:
    text = json.dumps(values, default=codec._default, separators=(",", ":"), ensure_ascii=False)
    assert outcome(codec.decode_key, text, width) == outcome(reference_key, text, width)


# -- wire messages ------------------------------------------------------------------------------


@given(st.dictionaries(TEXT, VALUES, max_size=5))
@settings(max_examples=400)
@example({"nan": math.nan, "inf": [math.inf], "row": None})
@example({"big": 2**64, "neg": [-(2**63) - 1]})
@example({"lone": "\ud800"})
@example({"keys": {1: "a", None: 2, 1.5: 3, False: 4}})
@example({"tuple": (1, "a", (2.5,))})
@example({"deep": (1, [None, {"x": -math.inf}])})
def test_messages_are_read_as_the_json_module_wrote_them(message: dict[str, Any]) -> None:
    sent = encode_message(message)
    expected = json.dumps(message, separators=(",", ":")).encode()
    assert ident(codec.loads(sent)) == ident(json.loads(expected))


def test_values_the_json_module_refuses_are_still_refused() -> None:
    class Kind:
        pass

    for message in ({"x": Kind()}, {"x": {1, 2}}, {"x": b"bytes"}):
        with pytest.raises(TypeError):
            encode_message(message)
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        encode_message({"loop": loop})


@pytest.fixture(scope="module")
def channels() -> Iterator[tuple[Channel, Channel]]:
    a, b = socket.socketpair()
    for sock in (a, b):
        sock.settimeout(5)
    yield Channel(a, b"k" * 32, False, 1 << 20, clock=lambda: 1.5), Channel(b, b"k" * 32, True, 1 << 20)
    a.close()
    b.close()


@given(st.dictionaries(TEXT, VALUES, max_size=4))
@settings(max_examples=200)
@example({"nan": math.nan, "big": [2**64, -(2**63) - 1], "lone": "\ud800", "tiny": 1e-300})
def test_messages_cross_a_channel_as_the_json_module_reads_them(
    channels: tuple[Channel, Channel], message: dict[str, Any]
) -> None:
    client, server = channels
    client.send({**message, "type": "m"})  # small: the socket's buffer holds it, no thread
    expected = json.loads(json.dumps({**message, "type": "m", "ts": 1.5}))
    assert ident(server.recv()) == ident(expected)


def send_signed(client: Channel, payload: bytes) -> None:
    """A frame as Channel.send makes it, around any payload."""
    word = _LENGTH.pack(len(payload))
    seq, client._out_seq = client._out_seq, client._out_seq + 1
    head = word + client._head_mac(client._out_dir, seq, word) + client._mac(client._out_dir, seq, payload)
    client.sock.sendall(head + payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"type":"m","ts":1,}',
        b'{"type":"m","ts":NaN,"x":[Infinity,-Infinity]}',  # the json module takes these
        b'{"type":"m","ts":1e400}',
        b'{"type":"m","ts":1,"n":18446744073709551616}',
        b'{"type":"m","ts":1,"s":"\\ud800"}',
        b'{"type":"m","ts":1}\xff',
        b"\xff\xfe{\x00}\x00",  # UTF-16: the json module reads it
        b"[1,2]",
        b"01",
        b'"\xed\xa0\x80"',
    ],
)
def test_a_signed_payload_is_read_or_refused_as_the_json_module_does(
    channels: tuple[Channel, Channel], payload: bytes
) -> None:
    client, server = channels
    try:
        value = json.loads(payload)
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            expected: Any = "message has no type"
        elif not isinstance(value.get("ts"), int | float):
            expected = "message has no timestamp"
        else:
            expected = ident(value)
    except ValueError as exc:
        expected = f"message is not JSON: {exc}"
    send_signed(client, payload)
    try:
        got = ident(server.recv())
    except ProtocolError as exc:
        got = str(exc)
    assert got == expected


# -- row text: orjson writes it only when it is byte for byte the json module's ------------------

ROW_TEXT = st.text(
    st.sampled_from(["a", "\x7f", "\x00", "\x1f", "\n", '"', "\\", "/", "\u00e9", "\U0001f600"]), max_size=6
)
NAMES = st.text(st.characters(max_codepoint=127), max_size=4)  # mostly what orjson writes
STORED = st.one_of(
    st.none(),
    st.booleans(),
    INTS,
    FLOATS.filter(lambda f: not math.isnan(f)),  # SQLite stores NaN as NULL
    st.floats(min_value=1e-6, max_value=1e-3),  # where orjson's form differs
    NAMES,
    TEXT,
    ROW_TEXT,
    st.binary(max_size=8),
)
REFERENCE = json.JSONEncoder(default=codec._default, separators=(",", ":"))


@given(st.dictionaries(NAMES | TEXT | st.integers(0, 3), STORED, max_size=4))
@settings(max_examples=500)
@example({"f": 1e-05})
@example({"g": 1e-07, "h": 1e16, "i": -0.0, "j": 1e-4, "k": 9.999999999999999e-05})
@example({"x": "\x7f"})
@example({"y": 2**64, "z": math.inf})
def test_row_text_is_the_json_modules(row: dict[Any, Any]) -> None:
    assert codec.encode_json(row) == REFERENCE.encode(row)
    if all(type(k) is str for k in row):
        assert codec.encode_row(tuple(row), tuple(row.values())) == REFERENCE.encode(row)
