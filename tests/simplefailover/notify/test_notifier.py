"""The mailer and its queue against a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from habase.notify import Notifier
from habase.notify.queue import RetryPolicy
from simplefailover.config import Monitoring
from tests.support.bind import free_port, wait_until

from .conftest import PASSWORD, SMTP_HOST, USER, Collector, SmtpServer


def monitoring(server: SmtpServer, **smtp: object) -> Monitoring:
    return Monitoring.model_validate(
        {
            "recipients": ["ops@example.com", "oncall@example.com"],
            "smtp": {"host": server.host, "port": server.port, "security": "none", "sender": "ha@example.com"}
            | smtp,
            "retry_delay": 0.1,
            "retry_max_delay": 0.3,
            "retries": 3,
        }
    )


class Outcomes:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def __call__(self, outcome: str, subject: str, detail: str) -> None:
        self.items.append((outcome, subject, detail))

    def kinds(self) -> list[str]:
        return [outcome for outcome, _, _ in self.items]


def test_plain_mail_reaches_every_recipient(smtp_server: SmtpServer) -> None:
    outcomes = Outcomes()
    notifier = Notifier(monitoring(smtp_server), outcomes)
    notifier.start()
    try:
        assert notifier.notify("[n1] poll1 KO on node2", "Polling failure: ...\nline two\n")
        (mail,) = smtp_server.collector.wait_for(1)
        assert notifier.wait_idle(5)
    finally:
        notifier.stop()
    assert mail.mail_from == "ha@example.com"
    assert mail.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    assert mail.subject == "[n1] poll1 KO on node2"
    assert mail.body == "Polling failure: ...\nline two\n"
    assert mail.message.get_content_type() == "text/plain"
    assert outcomes.kinds() == ["sent"]


def test_starttls_with_login(
    tls_smtp_server: SmtpServer,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)
    settings = monitoring(
        tls_smtp_server,
        security="starttls",
        username=USER,
        password_env="TEST_SMTP_PASSWORD",
        ca_file=ca_file,
    )
    notifier = Notifier(settings)
    notifier.start()
    try:
        notifier.notify("over TLS", "body\n")
        (mail,) = tls_smtp_server.collector.wait_for(1)
    finally:
        notifier.stop()
    assert mail.subject == "over TLS"
    assert tls_smtp_server.collector.logins == [USER]
    assert PASSWORD not in caplog.text


def test_password_from_file(tls_smtp_server: SmtpServer, ca: trustme.CA, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    secret = tmp_path / "smtp.password"
    secret.write_text(PASSWORD + "\n")
    settings = monitoring(
        tls_smtp_server, security="starttls", username=USER, password_file=secret, ca_file=ca_file
    )
    notifier = Notifier(settings)
    notifier.start()
    try:
        notifier.notify("password from a file", "body\n")
        tls_smtp_server.collector.wait_for(1)
    finally:
        notifier.stop()
    assert tls_smtp_server.collector.logins == [USER]


def test_untrusted_certificate_is_refused_then_given_up(
    tls_smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """verify_tls (the default) with the system CAs refuses the throwaway CA; the mail is given up."""
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    outcomes = Outcomes()
    settings = monitoring(
        tls_smtp_server, security="starttls", username=USER, password_env="TEST_SMTP_PASSWORD"
    )
    notifier = Notifier(settings.model_copy(update={"retries": 1}), outcomes)
    notifier.start()
    try:
        notifier.notify("never sent", "body\n")
        assert notifier.wait_idle(10)
    finally:
        notifier.stop()
    assert outcomes.kinds() == ["failed", "given up"]
    assert "CERTIFICATE_VERIFY_FAILED" in outcomes.items[-1][2]
    assert "mail given up: never sent" in caplog.text
    assert tls_smtp_server.collector.received == []


def test_wrong_password_is_retried_and_never_logged(
    tls_smtp_server: SmtpServer,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password-xyz")
    caplog.set_level(logging.DEBUG)
    outcomes = Outcomes()
    settings = monitoring(
        tls_smtp_server,
        security="starttls",
        username=USER,
        password_env="TEST_SMTP_PASSWORD",
        ca_file=ca_file,
    )
    notifier = Notifier(settings.model_copy(update={"retries": 2}), outcomes)
    notifier.start()
    try:
        notifier.notify("refused login", "body\n")
        assert notifier.wait_idle(10)
    finally:
        notifier.stop()
    assert outcomes.kinds() == ["failed", "failed", "given up"]
    assert "login as 'alerts'" in outcomes.items[0][2]
    assert "wrong-password-xyz" not in caplog.text


def test_implicit_tls(ca: trustme.CA, tmp_path: Path) -> None:
    import ssl

    from .conftest import Collector, free_port

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(SMTP_HOST).configure_cert(context)
    server = SmtpServer(SMTP_HOST, free_port(SMTP_HOST), Collector())
    server.start(ssl_context=context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    notifier = Notifier(monitoring(server, security="tls", ca_file=ca_file))
    notifier.start()
    try:
        notifier.notify("implicit TLS", "body\n")
        (mail,) = server.collector.wait_for(1)
    finally:
        notifier.stop()
        server.stop()
    assert mail.subject == "implicit TLS"


def test_server_down_then_back_delivers_everything_in_order(smtp_idle: SmtpServer) -> None:
    outcomes = Outcomes()
    settings = monitoring(smtp_idle).model_copy(update={"retries": 1000})
    notifier = Notifier(settings, outcomes)
    notifier.start()
    try:
        for i in range(5):
            notifier.notify(f"mail {i}", f"body {i}\n")
        wait_until(lambda: outcomes.kinds().count("failed") >= 2, 10, "two failed attempts")
        assert notifier.pending == 5
        smtp_idle.start()
        received = smtp_idle.collector.wait_for(5)
        assert notifier.wait_idle(5)
    finally:
        notifier.stop()
    assert [r.subject for r in received] == [f"mail {i}" for i in range(5)]
    assert "given up" not in outcomes.kinds()


def test_reconfigure_sends_waiting_mail_with_new_settings(
    smtp_idle: SmtpServer, smtp_server: SmtpServer
) -> None:
    """Mail queued for a dead server goes out, to the new recipients, once the config points elsewhere."""
    notifier = Notifier(
        monitoring(smtp_idle).model_copy(update={"retry_delay": 60.0, "retry_max_delay": 60.0})
    )
    outcomes = Outcomes()
    notifier._on_outcome = outcomes
    notifier.start()
    try:
        notifier.notify("waiting", "body\n")
        wait_until(lambda: "failed" in outcomes.kinds(), 10, "the first failed attempt")
        moved = monitoring(smtp_server).model_copy(update={"recipients": ["new@example.com"]})
        notifier.reconfigure(moved)
        (mail,) = smtp_server.collector.wait_for(1)
    finally:
        notifier.stop()
    assert mail.subject == "waiting"
    assert mail.rcpt_tos == ["new@example.com"]


def test_off_or_nowhere_to_send(smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    off = Notifier(monitoring(smtp_server).model_copy(update={"notifications": False}))
    assert not off.notify("off", "body")
    nobody = Notifier(monitoring(smtp_server).model_copy(update={"recipients": []}))
    with caplog.at_level(logging.WARNING):
        assert not nobody.notify("first", "body")
        assert not nobody.notify("second", "body")
    assert caplog.text.count("monitoring.recipients is empty") == 1
    assert off.pending == nobody.pending == 0


@pytest.mark.parametrize(("failures", "expected"), [(1, 5.0), (2, 10.0), (3, 20.0), (7, 300.0), (50, 300.0)])
def test_backoff_doubles_up_to_the_cap(failures: int, expected: float) -> None:
    assert RetryPolicy(10, 5.0, 300.0).backoff(failures) == expected


class SlowCollector(Collector):
    """A loaded mail server: it takes each mail's DATA and answers 1.2 s later."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrived.set()
        await asyncio.sleep(1.2)
        return await super().handle_DATA(server, session, envelope)


def test_stop_gives_queued_mail_its_timeout_once_not_twice() -> None:
    """Stopping while a slow server takes queued mails one by one (each within smtp.timeout):
    the drain and the wait for the sending thread share one deadline, so a service's stop is
    bounded by the queue's timeout (smtp.timeout + 1 = 3 s here), not twice it."""
    server = SmtpServer(SMTP_HOST, free_port(SMTP_HOST), SlowCollector())
    server.start()
    collector = server.collector
    assert isinstance(collector, SlowCollector)
    notifier = Notifier(monitoring(server, timeout=2), Outcomes())
    notifier.start()
    try:
        for i in range(8):  # 8 x 1.2 s: more than the stop may wait
            notifier.notify(f"[n1] slow {i}", "body")
        assert collector.arrived.wait(10)
        started = time.monotonic()
        notifier.stop()
        took = time.monotonic() - started
    finally:
        server.stop()
    assert took < 4.5  # one 3 s wait; before, the drain and then the join each waited 3 s
