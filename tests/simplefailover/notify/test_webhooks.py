"""Webhooks against a real HTTP receiver: every notification once, in order, signed."""

from __future__ import annotations

import hashlib
import hmac
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from habase.notify import Notifier
from simplefailover.config import Monitoring, parse_config
from simplefailover.daemon import Daemon
from simplefailover.engine import Engine
from simplefailover.notify import AlertService
from simplefailover.pollers.result import PollResult
from tests.support.bind import free_port, wait_until

from .conftest import SmtpServer
from .scenario import INSTANCE, config_text
from .webhook_receiver import RECEIVER_HOST, Receiver, webhook_receiver

SECRET = "hook-secret-never-logged"


class Outcomes:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, str]] = []

    def __call__(self, where: str, outcome: str, subject: str, detail: str) -> None:
        self.items.append((where, outcome, subject, detail))

    def kinds(self) -> list[str]:
        return [outcome for _, outcome, _, _ in self.items]


def settings(port: int, smtp: SmtpServer | None = None, **hook: Any) -> Monitoring:
    return Monitoring.model_validate(
        {
            "recipients": ["ops@example.com"] if smtp else [],
            "smtp": {"host": smtp.host, "port": smtp.port, "security": "none"} if smtp else {},
            "retry_delay": 0.1,
            "retry_max_delay": 0.3,
            "retries": 1000,
            "webhooks": [{"url": f"http://{RECEIVER_HOST}:{port}/hook?token=t0p", **hook}],
        }
    )


@pytest.fixture
def port() -> int:
    return free_port(RECEIVER_HOST)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SF23_HOOK_SECRET", SECRET)
    return "SF23_HOOK_SECRET"


@pytest.fixture
def started() -> Iterator[list[Notifier]]:
    notifiers: list[Notifier] = []
    yield notifiers
    for notifier in notifiers:
        notifier.stop()


def start(started: list[Notifier], monitoring: Monitoring, outcomes: Outcomes | None = None) -> Notifier:
    notifier = Notifier(monitoring, on_webhook_outcome=outcomes)
    notifier.start()
    started.append(notifier)
    return notifier


def verify(post: Any, secret: str = SECRET) -> None:
    """Check the HMAC as a receiver would: over timestamp + '.' + body."""
    stamp = post.headers["x-simplefailover-timestamp"]
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post.headers["x-simplefailover-signature"], "sha256=" + expected)
    assert abs(int(stamp) - time.time()) < 300


def subjects(posts: list[Any]) -> list[str]:
    return [p.json["subject"] for p in posts]


SUBJECTS = [f"event {i}" for i in range(6)]


def test_every_notification_arrives_signed_in_order_beside_the_mail(
    port: int, secret: str, smtp_server: SmtpServer, started: list[Notifier]
) -> None:
    with webhook_receiver(port) as receiver:
        notifier = start(started, settings(port, smtp_server, secret_env=secret, headers={"X-Team": "ops"}))
        for subject in SUBJECTS:
            assert notifier.notify(subject, f"body of {subject}\n")
        posts = receiver.wait_accepted(len(SUBJECTS))
        smtp_server.collector.wait_for(len(SUBJECTS))
    assert subjects(posts) == SUBJECTS == smtp_server.collector.subjects()
    for post in posts:
        verify(post)
        assert post.path == "/hook?token=t0p"
        assert post.headers["content-type"] == "application/json; charset=utf-8"
        assert post.headers["x-team"] == "ops"
        assert post.json["text"] == f"body of {post.json['subject']}\n"
        assert post.json["source"] == "simplefailover"
    assert len({p.headers["x-simplefailover-id"] for p in posts}) == len(SUBJECTS)


def test_a_tampered_body_fails_verification(port: int, secret: str, started: list[Notifier]) -> None:
    with webhook_receiver(port) as receiver:
        start(started, settings(port, secret_env=secret)).notify("one", "body")
        post = receiver.wait_accepted(1)[0]
    forged = type(post)(post.path, post.headers, post.body.replace(b"one", b"two"), post.status)
    with pytest.raises(AssertionError):
        verify(forged)
    with pytest.raises(AssertionError):
        verify(post, secret="another secret")


def test_500_then_200_delivers_each_once_in_order(port: int, started: list[Notifier]) -> None:
    outcomes = Outcomes()
    with webhook_receiver(port, Receiver(script=[500, 500, 503])) as receiver:
        notifier = start(started, settings(port), outcomes)
        for subject in SUBJECTS:
            notifier.notify(subject, "body")
        posts = receiver.wait_accepted(len(SUBJECTS))
        assert notifier.wait_idle(10)
    assert subjects(posts) == SUBJECTS
    refused = [p for p in receiver.posts if p.status >= 500]
    assert len(refused) == 3
    # a retried notification keeps its id, so a receiver can tell a copy
    assert refused[0].headers["x-simplefailover-id"] == posts[0].headers["x-simplefailover-id"]
    assert outcomes.kinds().count("sent") == len(SUBJECTS)
    assert "failed" in outcomes.kinds() and "given up" not in outcomes.kinds()
    assert all(f":{port}" in where and "t0p" not in where for where, _, _, _ in outcomes.items)


def test_slow_receiver_never_holds_the_caller(port: int, started: list[Notifier]) -> None:
    with webhook_receiver(port, Receiver(delay=0.3)) as receiver:
        notifier = start(started, settings(port))
        for subject in SUBJECTS:
            notifier.notify(subject, "body")
        assert notifier.pending > 0  # queued: notify returned while the receiver still works
        posts = receiver.wait_accepted(len(SUBJECTS))
    assert subjects(posts) == SUBJECTS
    assert len(receiver.posts) == len(SUBJECTS)


def test_receiver_down_then_up_gets_everything_once_in_order(port: int, started: list[Notifier]) -> None:
    outcomes = Outcomes()
    notifier = start(started, settings(port), outcomes)
    for subject in SUBJECTS[:3]:
        notifier.notify(subject, "body")
    wait_until(lambda: "failed" in outcomes.kinds(), 10, "a failed POST while the receiver is down")
    with webhook_receiver(port) as receiver:
        for subject in SUBJECTS[3:]:
            notifier.notify(subject, "body")
        posts = receiver.wait_accepted(len(SUBJECTS))
        assert notifier.wait_idle(10)
    assert subjects(posts) == SUBJECTS
    assert len(receiver.posts) == len(SUBJECTS)


def test_a_permanent_refusal_is_given_up_and_the_next_goes_through(
    port: int, started: list[Notifier]
) -> None:
    outcomes = Outcomes()
    with webhook_receiver(port, Receiver(script=[404])) as receiver:
        notifier = start(started, settings(port), outcomes)
        notifier.notify("refused", "body")
        notifier.notify("fine", "body")
        posts = receiver.wait_accepted(1)
        assert notifier.wait_idle(10)
    assert subjects(posts) == ["fine"]
    assert [p.status for p in receiver.posts] == [404, 200]
    assert [(o, s) for _, o, s, _ in outcomes.items] == [("given up", "refused"), ("sent", "fine")]


def test_missing_secret_sends_nothing_unsigned(port: int, started: list[Notifier]) -> None:
    outcomes = Outcomes()
    with webhook_receiver(port) as receiver:
        notifier = start(started, settings(port, secret_env="SF23_NOT_SET"), outcomes)
        notifier.notify("one", "body")
        wait_until(lambda: "failed" in outcomes.kinds(), 10, "the failure to sign")
        assert receiver.posts == []
    assert "SF23_NOT_SET" in outcomes.items[0][3]


def test_slack_and_teams_formats(port: int, started: list[Notifier]) -> None:
    with webhook_receiver(port) as receiver:
        start(started, settings(port, format="slack")).notify("[w1] web KO on n1", "Error: <500> & more\n")
        slack = receiver.wait_accepted(1)[0].json
    assert slack == {"text": "*[w1] web KO on n1*\n```\nError: &lt;500&gt; &amp; more\n```"}
    with webhook_receiver(port) as receiver:
        start(started, settings(port, format="teams")).notify("[w1] web KO on n1", "line 1\nline 2\n")
        teams = receiver.wait_accepted(1)[0].json
    assert teams["type"] == "message"
    attachment = teams["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    title, text = attachment["content"]["body"]
    assert (title["text"], text["text"]) == ("[w1] web KO on n1", "line 1\nline 2")


def test_reload_moves_webhooks_without_restart(secret: str, started: list[Notifier]) -> None:
    first_port, second_port = free_port(RECEIVER_HOST), free_port(RECEIVER_HOST)
    with webhook_receiver(first_port) as first, webhook_receiver(second_port) as second:
        notifier = start(started, settings(first_port))
        notifier.notify("before", "body")
        first.wait_accepted(1)
        notifier.reconfigure(settings(second_port, secret_env=secret, format="json"))
        notifier.notify("after", "body")
        posts = second.wait_accepted(1)
        assert notifier.wait_idle(10)
        assert subjects(first.posts) == ["before"]
    assert subjects(posts) == ["after"]
    verify(posts[0])


def test_alert_service_sends_the_same_mails_and_digest_to_the_webhook(
    port: int, smtp_server: SmtpServer, started: list[Notifier]
) -> None:
    """Engine transitions through the storm gate: the webhook gets what the mail gets, digest included."""
    text = config_text(smtp_server.port, 8080, storm_threshold=1, storm_window=3600)
    hook = f"  webhooks: [{{url: 'http://{RECEIVER_HOST}:{port}/'}}]\n"
    text = text.replace("  retries: 1000\n", "  retries: 1000\n" + hook)
    config = parse_config(text)
    engine = Engine(config)
    alerts = AlertService(config, engine)
    engine.subscribe(alerts.on_transitions)
    with webhook_receiver(port) as receiver:
        alerts.start()
        try:
            engine.record("n2", "web", PollResult(True, 0.001, "", time.time()))
            for ok in (True, False, True, False):
                engine.record("n1", "web", PollResult(ok, 0.001, "" if ok else "down", time.time()))
            smtp_server.collector.wait_for(1)
        finally:
            alerts.stop()
        posts = receiver.wait_accepted(2)
    mails = smtp_server.collector.subjects()
    assert subjects(posts) == mails
    assert mails[0] == f"[{INSTANCE}] web KO on n1" and mails[1].endswith("(digest)")
    assert [p.json["text"] for p in posts] == [r.body for r in smtp_server.collector.received]
    events = [e for e in engine.snapshot().events if e.kind == "webhook"]
    assert [e.new for e in events] == ["sent", "sent"]


DAEMON_CONFIG = """
zone: {{name: hooks.test}}
nodes:
  - {{id: n1, address: 127.0.23.81, priority: 10}}
  - {{id: n2, address: 127.0.23.82, priority: 5}}
pollings:   # up while a file named after the node exists
  - id: app
    method: command
    command: ["{python}", -c, "import os, sys; sys.exit(0 if os.path.exists(sys.argv[1]) else 2)",
              "{up}/{{id}}"]
hostnames:
  - {{name: www, polling: app}}
schedule: {{interval: 0.2, retry_interval: 0.2, fall: 1, rise: 1, jitter: 0}}
dns: {{listen: ["127.0.23.80:0"]}}
dashboard: {{enabled: false}}
monitoring:
  recipients: []
  retry_delay: 0.2
  webhooks: [{{url: "http://{receiver}:{port}/{path}", secret_env: {secret}}}]
cluster: {{node_id: hooks23}}
"""


def test_a_running_service_reloads_its_webhooks(secret: str, tmp_path: Path) -> None:
    """Node down -> POST to the first receiver; reload to the second; node up -> POST there only."""
    up = tmp_path / "up"
    up.mkdir()
    (up / "n1").touch()
    (up / "n2").touch()
    first_port, second_port = free_port(RECEIVER_HOST), free_port(RECEIVER_HOST)
    path = tmp_path / "config.yaml"

    def write(port: int, where: str) -> None:
        path.write_text(
            DAEMON_CONFIG.format(
                python=sys.executable, up=up, receiver=RECEIVER_HOST, port=port, path=where, secret=secret
            )
        )

    write(first_port, "first")
    with webhook_receiver(first_port) as first, webhook_receiver(second_port) as second:
        daemon = Daemon(path)
        daemon.start()
        try:
            wait_until(daemon.engine.ready.is_set, 15, "the first round of checks")
            (up / "n1").unlink()
            first.wait_accepted(1)
            write(second_port, "second")
            assert daemon.reload()
            (up / "n1").touch()
            second.wait_accepted(1)
        finally:
            daemon.stop()
    assert subjects(first.accepted()) == ["[hooks23] app KO on n1"]
    assert subjects(second.accepted()) == ["[hooks23] app OK again on n1"]
    for post in first.accepted() + second.accepted():
        verify(post)
    assert "www.hooks.test -> 127.0.23.82 (n2)" in first.accepted()[0].json["text"]


def test_proxy_is_the_configured_one_never_the_environment(
    port: int, started: list[Notifier], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = free_port(RECEIVER_HOST)
    monkeypatch.setenv("HTTP_PROXY", f"http://{RECEIVER_HOST}:{dead}")  # would swallow everything
    monkeypatch.setenv("http_proxy", f"http://{RECEIVER_HOST}:{dead}")
    with webhook_receiver(port) as receiver:
        start(started, settings(port)).notify("direct", "body")
        assert receiver.wait_accepted(1)[0].path == "/hook?token=t0p"
    via_proxy = Monitoring.model_validate(
        {"webhooks": [{"url": "http://hooks.example.test/x", "proxy": f"http://{RECEIVER_HOST}:{port}"}]}
    )
    with webhook_receiver(port) as proxy:
        start(started, via_proxy).notify("proxied", "body")
        post = proxy.wait_accepted(1)[0]
    assert post.path == "http://hooks.example.test/x"  # a forward proxy gets the absolute URL
    assert post.json["subject"] == "proxied"
