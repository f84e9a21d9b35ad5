"""Row values to JSON text and back: every SQLite value survives, bad text is a ValueError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clustersync.core.codec import decode_row, encode_row

SCALARS = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
)


@given(st.dictionaries(st.text(min_size=1), SCALARS, max_size=8))
def test_every_sqlite_value_survives_the_round_trip(row: dict[str, object]) -> None:
    back = decode_row(encode_row(tuple(row), tuple(row.values())))
    assert back == row
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in row.items()}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": {"$b": 1}}',  # a blob that is not text (b64decode raised TypeError)
        '{"a": {"$b": null}}',
        '{"a": {"$b": "!!not base64!!"}}',
        '{"a": {"x": 1}}',
        '{"a": [1, 2]}',
        "[1, 2]",
        "not json",
    ],
)
def test_bad_row_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        decode_row(text)
