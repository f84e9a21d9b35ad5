"""The sip poller against a real SIP responder on loopback, over UDP, TCP and TLS."""

from __future__ import annotations

import datetime
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from simplefailover.config import Node, SipPolling
from simplefailover.pollers import SipPoller
from simplefailover.pollers.certs import days_left
from tests.support.sip import SipResponder, sip_responder

HOST = "127.0.23.10"
NODE = Node(id="pbx1", address=HOST)


@pytest.fixture(scope="module")
def sip_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def sip_ca_file(sip_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sipca") / "ca.pem"
    sip_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def responder(sip_ca: trustme.CA) -> Iterator[SipResponder]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    not_after = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=60)
    sip_ca.issue_cert(HOST, "pbx.example.test", not_after=not_after).configure_cert(context)
    with sip_responder(HOST, context) as running:
        yield running


def polling(responder: SipResponder, transport: str, user: str, **extra: Any) -> SipPolling:
    port = {"udp": responder.udp_port, "tcp": responder.tcp_port, "tls": responder.tls_port}[transport]
    fields: dict[str, Any] = {
        "id": "sip",
        "method": "sip",
        "transport": transport,
        "port": port,
        "request_uri": f"sip:{user}@{{address}}:{{port}}",
        "timeout": 2.0,
        **extra,
    }
    return SipPolling.model_validate(fields)


TRANSPORTS = ["udp", "tcp", "tls"]


def tls_extra(transport: str, ca_file: Path) -> dict[str, Any]:
    return {"ca_file": ca_file} if transport == "tls" else {}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_200_is_ok(responder: SipResponder, sip_ca_file: Path, transport: str) -> None:
    result = SipPoller(polling(responder, transport, "ok", **tls_extra(transport, sip_ca_file))).check(NODE)
    assert result.ok, result.error
    assert (result.cert_not_after is not None) == (transport == "tls")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_404_is_ko_by_default_and_ok_when_expected(
    responder: SipResponder, sip_ca_file: Path, transport: str
) -> None:
    extra = tls_extra(transport, sip_ca_file)
    result = SipPoller(polling(responder, transport, "notfound", **extra)).check(NODE)
    assert not result.ok
    assert result.error == "SIP 404 Not Found (expected 200-299)"
    alive = polling(responder, transport, "notfound", expect_status=["200-299", 403, 404], **extra)
    assert SipPoller(alive).check(NODE).ok


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_answer_times_out(responder: SipResponder, sip_ca_file: Path, transport: str) -> None:
    extra = tls_extra(transport, sip_ca_file)
    result = SipPoller(polling(responder, transport, "silent", timeout=1.6, **extra)).check(NODE)
    assert not result.ok
    assert result.error.startswith("no SIP response within 1.6s")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_garbage_is_ko(responder: SipResponder, sip_ca_file: Path, transport: str) -> None:
    result = SipPoller(polling(responder, transport, "garbage", **tls_extra(transport, sip_ca_file))).check(
        NODE
    )
    assert not result.ok
    assert result.error.startswith("not a SIP response")
    assert (result.cert_not_after is not None) == (transport == "tls")  # the handshake was fine


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_100_trying_is_not_final(responder: SipResponder, sip_ca_file: Path, transport: str) -> None:
    extra = tls_extra(transport, sip_ca_file)
    result = SipPoller(polling(responder, transport, "trying", timeout=1.2, **extra)).check(NODE)
    assert not result.ok
    assert result.error.startswith("only a provisional 100 Trying, no final response within 1.2s")
    assert SipPoller(polling(responder, transport, "tryingok", **extra)).check(NODE).ok


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_response_to_another_transaction_is_ignored(
    responder: SipResponder, sip_ca_file: Path, transport: str
) -> None:
    result = SipPoller(polling(responder, transport, "stale", **tls_extra(transport, sip_ca_file))).check(
        NODE
    )
    assert result.error == "SIP 404 Not Found (expected 200-299)"


def test_udp_retransmits_per_timer_e(responder: SipResponder) -> None:
    """The responder answers only the third copy: T1 = 0.5 s, then 1 s, so it comes about 1.5 s in."""
    result = SipPoller(polling(responder, "udp", "late", timeout=3.0)).check(NODE)
    assert result.ok, result.error
    copies = responder.requests("late")
    assert len(copies) == 3
    assert len({headers["via"] for _, headers in copies}) == 1  # the same transaction each time


def test_udp_retransmissions_stay_within_the_timeout(responder: SipResponder) -> None:
    before = len(responder.requests("silent"))
    result = SipPoller(polling(responder, "udp", "silent", timeout=2.0)).check(NODE)
    # 0, 0.5, 1.5 s; the next (3.5 s) would be after the timeout
    assert "(3 transmission(s) over UDP)" in result.error
    assert len(responder.requests("silent")) - before == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_request_has_the_mandatory_headers(
    responder: SipResponder, sip_ca_file: Path, transport: str
) -> None:
    user = "ok"
    before = len(responder.requests(user))
    SipPoller(polling(responder, transport, user, **tls_extra(transport, sip_ca_file))).check(NODE)
    start, headers = responder.requests(user)[before]
    port = {"udp": responder.udp_port, "tcp": responder.tcp_port, "tls": responder.tls_port}[transport]
    suffix = "" if transport == "udp" else f";transport={transport}"
    assert start == f"OPTIONS sip:ok@{HOST}:{port}{suffix} SIP/2.0"
    via = headers["via"]
    assert via.startswith(f"SIP/2.0/{transport.upper()} {HOST}:") or via.startswith(
        f"SIP/2.0/{transport.upper()} 127."
    )
    assert ";branch=z9hG4bK" in via
    assert ";tag=" in headers["from"]
    assert headers["to"] == f"<sip:ok@{HOST}:{port}{suffix}>"
    assert headers["call-id"] and headers["cseq"] == "1 OPTIONS"
    assert headers["max-forwards"] == "70"
    assert headers["content-length"] == "0"


def test_tls_certificate_expiry_is_read(responder: SipResponder, sip_ca_file: Path) -> None:
    result = SipPoller(polling(responder, "tls", "ok", ca_file=sip_ca_file)).check(NODE)
    assert result.cert_not_after is not None
    assert 59 < days_left(result.cert_not_after, time.time()) <= 60


def test_tls_unknown_ca_fails_unless_verification_off(responder: SipResponder) -> None:
    result = SipPoller(polling(responder, "tls", "ok")).check(NODE)
    assert not result.ok
    assert result.error == "TLS error: CERTIFICATE_VERIFY_FAILED (unable to get local issuer certificate)"
    unverified = SipPoller(polling(responder, "tls", "ok", verify_tls=False)).check(NODE)
    assert unverified.ok and unverified.cert_not_after is not None


def test_tls_server_name_is_checked(responder: SipResponder, sip_ca_file: Path) -> None:
    good = polling(responder, "tls", "ok", ca_file=sip_ca_file, server_name="pbx.example.test")
    assert SipPoller(good).check(NODE).ok
    wrong = polling(responder, "tls", "ok", ca_file=sip_ca_file, server_name="other.example.test")
    assert "TLS error" in SipPoller(wrong).check(NODE).error


def test_nothing_listening(responder: SipResponder) -> None:
    closed = Node(id="x", address="127.0.23.11")
    assert SipPoller(polling(responder, "tcp", "ok")).check(closed).error == "connection refused"
    udp = SipPoller(polling(responder, "udp", "ok", timeout=1.0)).check(closed)
    assert udp.error == "connection refused"  # ICMP port unreachable on loopback


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_ipv6_node(transport: str) -> None:
    with sip_responder("::1") as v6:
        result = SipPoller(polling(v6, transport, "ok")).check(Node(id="v6", address="::1"))
        assert result.ok, result.error
        start, headers = v6.requests("ok")[0]
    assert start.startswith("OPTIONS sip:ok@[::1]:")
    assert headers["via"].startswith(f"SIP/2.0/{transport.upper()} [::1]:")


def test_expired_certificate_says_so(sip_ca: trustme.CA, sip_ca_file: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    sip_ca.issue_cert(HOST, not_before=past - datetime.timedelta(days=30), not_after=past).configure_cert(
        context
    )
    with sip_responder(HOST, context) as expired:
        verified = SipPoller(polling(expired, "tls", "ok", ca_file=sip_ca_file)).check(NODE)
        unverified = SipPoller(polling(expired, "tls", "ok", verify_tls=False)).check(NODE)
    assert verified.error == "TLS error: CERTIFICATE_VERIFY_FAILED (certificate has expired)"
    assert unverified.ok and unverified.cert_not_after is not None
    assert -1.01 < days_left(unverified.cert_not_after, time.time()) < -0.99
