"""Properties of the pure parsers the sip poller and the certificate reader use on untrusted bytes."""

from __future__ import annotations

import contextlib
import ssl

import trustme
from hypothesis import given
from hypothesis import strategies as st

from simplefailover.pollers.certs import not_after
from simplefailover.pollers.sipmsg import NotSip, build_options, parse_response, split_stream

REQUEST = build_options("sip:x@127.0.23.1:5060", "tcp", ("127.0.23.2", 40000), "simplefailover")


def response_to(code: int, reason: str, body: bytes = b"", compact: bool = False) -> bytes:
    text = REQUEST.data.decode()
    headers = dict(line.split(": ", 1) for line in text.split("\r\n")[1:] if ": " in line)
    names = ("v", "i", "l") if compact else ("Via", "Call-ID", "Content-Length")
    lines = [
        f"SIP/2.0 {code} {reason}",
        f"{names[0]}: {headers['Via']}",
        f"From: {headers['From']}",
        f"To: {headers['To']};tag=1",
        f"{names[1]}: {headers['Call-ID']}",
        "CSeq: 1 OPTIONS",
        f"{names[2]}: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@given(st.binary(max_size=2000))
def test_parse_response_takes_any_bytes(data: bytes) -> None:
    try:
        response = parse_response(data)
    except NotSip:
        return
    assert 100 <= response.code <= 699


@given(st.binary(max_size=3000))
def test_split_stream_takes_any_bytes(data: bytes) -> None:
    try:
        cut = split_stream(data)
    except NotSip:
        return
    if cut is not None:
        message, rest = cut
        assert len(message) + len(rest) <= len(data)


@given(
    st.integers(100, 699),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.binary(max_size=300),
    st.booleans(),
    st.lists(st.integers(1, 50), max_size=10),
)
def test_stream_cut_anywhere_gives_the_same_response(
    code: int, reason: str, body: bytes, compact: bool, cuts: list[int]
) -> None:
    """However TCP splits the bytes, the response comes out whole, once, with what follows kept."""
    wire = b"\r\n" + response_to(code, reason, body, compact) + b"SIP/2.0 200 OK\r\n"
    buffer, found = b"", []
    position = 0
    for size in [*cuts, len(wire)]:
        buffer += wire[position : position + size]
        position += size
        cut = split_stream(buffer)
        if cut is not None:
            message, buffer = cut
            found.append(parse_response(message))
    assert len(found) == 1
    assert found[0].code == code and found[0].answers(REQUEST)
    assert buffer == b"SIP/2.0 200 OK\r\n"


def test_a_response_must_match_branch_and_call_id() -> None:
    good = parse_response(response_to(200, "OK"))
    assert good.answers(REQUEST)
    other = build_options("sip:x@127.0.23.1:5060", "tcp", ("127.0.23.2", 40000), "simplefailover")
    assert not good.answers(other)


CERT = ssl.PEM_cert_to_DER_cert(trustme.CA().issue_cert("x.test").cert_chain_pems[0].bytes().decode())


@given(
    st.integers(0, len(CERT)),
    st.lists(st.tuples(st.integers(0, len(CERT) - 1), st.integers(0, 255)), max_size=8),
)
def test_certificate_reader_takes_damaged_certificates(keep: int, changes: list[tuple[int, int]]) -> None:
    """A real certificate cut short and with bytes changed: a time or ValueError, nothing else."""
    data = bytearray(CERT)
    for index, value in changes:
        data[index] = value
    with contextlib.suppress(ValueError):
        assert isinstance(not_after(bytes(data[:keep])), float)
