"""When a node's TLS certificate expires: read from the DER bytes the handshake gave.

Verification may be off (verify_tls: false), and then Python's ssl module gives no parsed
certificate, only DER; the few fields needed are read here rather than pulling in a full
X.509 library for one date.
"""

from __future__ import annotations

import calendar
import ssl
import time

DAY = 86400.0


def _element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at pos."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        element = _element(data, start)
        out.append(element)
        start = element[2]
    return out


def _asn1_time(tag: int, text: str) -> float:
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ: 50-99 are 19xx (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError(f"unexpected time tag {tag:#x}")
    parsed = time.strptime(text.rstrip("Z")[:14], "%Y%m%d%H%M%S")
    return float(calendar.timegm(parsed))


def not_after(der: bytes) -> float:
    """The certificate's notAfter as a Unix time; ValueError when the bytes are no certificate."""
    tag, start, _ = _element(der, 0)
    if tag != 0x30:
        raise ValueError("not a certificate")
    tbs_tag, tbs_start, tbs_end = _element(der, start)
    if tbs_tag != 0x30:
        raise ValueError("not a certificate")
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    if len(fields) < 4 or fields[3][0] != 0x30:
        raise ValueError("no validity in certificate")
    validity = _children(der, fields[3][1], fields[3][2])
    if len(validity) != 2:
        raise ValueError("bad validity")
    time_tag, t_start, t_end = validity[1]
    return _asn1_time(time_tag, der[t_start:t_end].decode("ascii"))


def peer_not_after(sock: ssl.SSLSocket | ssl.SSLObject | None) -> float | None:
    """notAfter of the peer's certificate on a TLS connection, None when there is none to read."""
    if sock is None:
        return None
    try:
        der = sock.getpeercert(binary_form=True)
        return not_after(der) if der else None
    except (ValueError, OSError):
        return None


def days_left(expires: float, now: float) -> float:
    """Days until expiry (negative once expired)."""
    return (expires - now) / DAY
