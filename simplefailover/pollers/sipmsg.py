"""Pure SIP (RFC 3261) message work for the sip poller: build an OPTIONS, read responses."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 8.1.1.7: every branch starts with it
MAX_MESSAGE = 64 * 1024
# RFC 3261 7.3.3 compact header forms
COMPACT = {"v": "via", "i": "call-id", "l": "content-length", "f": "from", "t": "to", "m": "contact"}


def host_part(address: str) -> str:
    """An address as it goes in a SIP URI or Via: IPv6 in brackets."""
    return f"[{address}]" if ":" in address else address


@dataclass(frozen=True, slots=True)
class Request:
    """One OPTIONS request and what its responses must carry."""

    data: bytes
    branch: str
    call_id: str


def build_options(uri: str, transport: str, local: tuple[str, int], from_user: str) -> Request:
    """An OPTIONS request with the headers RFC 3261 8.1.1 makes mandatory, and Content-Length."""
    branch = MAGIC_COOKIE + secrets.token_hex(8)
    host = host_part(local[0])
    call_id = f"{secrets.token_hex(12)}@{host}"
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {host}:{local[1]};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{from_user}@{host}>;tag={secrets.token_hex(6)}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:{from_user}@{host}:{local[1]};transport={transport}>",
        "Accept: application/sdp",
        "User-Agent: simplefailover",
        "Content-Length: 0",
    ]
    return Request(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"), branch, call_id)


@dataclass(frozen=True, slots=True)
class Response:
    code: int
    reason: str
    headers: dict[str, list[str]]  # lower-case long names

    def first(self, name: str) -> str:
        values = self.headers.get(name)
        return values[0] if values else ""

    @property
    def final(self) -> bool:
        return self.code >= 200

    def answers(self, request: Request) -> bool:
        """Whether this response belongs to request (Call-ID, CSeq method and top Via branch)."""
        if self.first("call-id").strip() != request.call_id:
            return False
        if self.first("cseq").split()[-1:] != ["OPTIONS"]:
            return False
        via = self.first("via").split(",")[0]
        params = {p.split("=", 1)[0].strip().lower(): p.partition("=")[2].strip() for p in via.split(";")[1:]}
        return params.get("branch") == request.branch


class NotSip(ValueError):
    """Bytes that are not a SIP response."""


def parse_response(data: bytes) -> Response:
    """Read a response's start line and headers; NotSip when it is none."""
    head = data.split(b"\r\n\r\n", 1)[0]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise NotSip(f"not a SIP response: {preview(data)}") from None
    lines = text.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[0] != "SIP/2.0" or not parts[1].isdigit() or len(parts[1]) != 3:
        raise NotSip(f"not a SIP response: {preview(data)}")
    code = int(parts[1])
    if not 100 <= code <= 699:
        raise NotSip(f"SIP status {code} out of range")
    headers: dict[str, list[str]] = {}
    last = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last:  # folded continuation line
            headers[last][-1] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise NotSip(f"bad SIP header line {line[:60]!r}")
        key = name.strip().lower()
        key = COMPACT.get(key, key)
        headers.setdefault(key, []).append(value.strip())
        last = key
    return Response(code, parts[2].strip() if len(parts) > 2 else "", headers)


def split_stream(buffer: bytes) -> tuple[bytes, bytes] | None:
    """Cut one whole message off a stream (TCP, TLS): (message, rest), or None if incomplete."""
    buffer = buffer.lstrip(b"\r\n")  # keep-alive CRLFs between messages (RFC 5626)
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_MESSAGE:
            raise NotSip(f"no end of SIP headers within {MAX_MESSAGE} bytes: {preview(buffer)}")
        return None
    head = parse_response(buffer[: end + 4])
    length_text = head.first("content-length") or "0"
    if not length_text.isdigit() or int(length_text) > MAX_MESSAGE:
        raise NotSip(f"bad Content-Length {length_text[:20]!r}")
    total = end + 4 + int(length_text)
    if len(buffer) < total:
        return None
    return buffer[:total], buffer[total:]


def preview(data: bytes) -> str:
    """The first bytes of something received, printable."""
    return repr(data[:60].decode("utf-8", "replace")) if data else "nothing"
