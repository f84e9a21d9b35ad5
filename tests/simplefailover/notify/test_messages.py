"""Pure mail rendering: which transitions mail, and what the mails say."""

from __future__ import annotations

import re

import pytest

from simplefailover.config import Config, parse_config
from simplefailover.notify.messages import DNS_UPDATE, Origin, is_notable, render, render_digest
from simplefailover.state import Answer, AnswerTable, Transition

CONFIG = """
zone: {name: example.test}
nodes:
  - {id: n1, address: 127.0.0.51, priority: 10}
  - {id: n2, address: "::1", priority: 5}
pollings:
  - {id: web, method: http, url: "http://{address}:8080/"}
  - {id: sip, method: tcp, port: 5060}
hostnames:
  - {name: www, polling: web}
  - {name: ias, polling: web, when_all_down: none}
  - {name: voice, polling: sip}
"""
ORIGIN = Origin("n1", "host-a")
AT = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG)


def table(www: tuple[str, ...] = ("::1",), down: bool = False) -> AnswerTable:
    return AnswerTable(
        42,
        {
            "www.example.test": Answer(("n2",) if www else (), www, down, "why"),
            "ias.example.test": Answer(("n2",), ("::1",), False, "why"),
            "voice.example.test": Answer(("n1",), ("127.0.0.51",), False, "why"),
        },
        True,
    )


@pytest.mark.parametrize(
    ("transition", "mailed"),
    [
        (Transition("check", AT, "OK", "KO", "refused", "n1", "web"), True),
        (Transition("check", AT, "KO", "OK", "2 successes", "n1", "web"), True),
        (Transition("check", AT, "UNKNOWN", "OK", "first check", "n1", "web"), False),
        (Transition("check", AT, "UNKNOWN", "KO", "refused", "n1", "web"), False),
        (Transition("answer", AT, "(none)", "127.0.0.51", "first", hostname="www.example.test"), False),
        (Transition("answer", AT, "127.0.0.51", "::1", "moved", hostname="www.example.test"), False),
        (Transition("all_down", AT, "some OK", "all down", "no node", hostname="www.example.test"), True),
        (Transition("recovered", AT, "all down", "some OK", "back", hostname="www.example.test"), False),
        (Transition(DNS_UPDATE, AT, "", "failed", "127.0.0.1: REFUSED", hostname="www.example.test"), True),
        (Transition("mail", AT, "", "sent", "subject"), False),
    ],
)
def test_which_transitions_mail(transition: Transition, mailed: bool) -> None:
    assert is_notable(transition) is mailed


def test_polling_failure_names_everything(config: Config) -> None:
    t = Transition("check", AT, "OK", "KO", "connection refused (1 consecutive failures)", "n1", "web")
    mail = render(t, config, table(), ORIGIN)
    assert mail.subject == "[n1] web KO on n1"
    assert mail.body.splitlines() == [
        "Polling failure: polling web on node n1 is KO (was OK).",
        "",
        "Node:     n1 (127.0.0.51, priority 10)",
        "Polling:  web (http)",
        "Error:    connection refused (1 consecutive failures)",
        "Time:     2027-01-15 08:00:00 UTC",
        "",
        "DNS now (serial 42):",
        "  www.example.test -> ::1 (n2)",
        "  ias.example.test -> ::1 (n2)",
        "",
        "Sent by SimpleFailover instance n1 on host host-a.",
    ]


def test_polling_success_and_lines_fit_a_phone(config: Config) -> None:
    t = Transition("check", AT, "KO", "OK", "1 consecutive successes", "n2", "sip")
    mail = render(t, config, table(), ORIGIN)
    assert mail.subject == "[n1] sip OK again on n2"
    assert "Polling success: polling sip on node n2 is OK (was KO)." in mail.body
    assert "  voice.example.test -> 127.0.0.51 (n1)" in mail.body
    assert "www.example.test" not in mail.body  # not bound to sip
    assert all(len(line) <= 80 for line in mail.body.splitlines())
    labelled = [line for line in mail.body.splitlines() if re.match(r"^[A-Z][a-z]+: ", line)]
    assert len(labelled) >= 4 and {len(line) - len(line[10:].lstrip()) for line in labelled} == {10}


def test_all_down(config: Config) -> None:
    t = Transition(
        "all_down",
        AT,
        "some OK",
        "all down",
        "no node is OK: answering no address",
        hostname="www.example.test",
    )
    mail = render(t, config, table(www=(), down=True), ORIGIN)
    assert mail.subject == "[n1] ALL NODES DOWN for www.example.test"
    assert "What DNS does: no node is OK: answering no address" in mail.body
    assert "  www.example.test -> (no address)  [ALL DOWN]" in mail.body


def test_dns_update_failure(config: Config) -> None:
    t = Transition(DNS_UPDATE, AT, "", "failed", "127.0.0.1:53: NOTAUTH", hostname="ias.example.test")
    mail = render(t, config, table(), ORIGIN)
    assert mail.subject == "[n1] DNS update FAILED for ias.example.test"
    assert "Error:    127.0.0.1:53: NOTAUTH" in mail.body
    assert "  ias.example.test -> ::1 (n2)" in mail.body


def test_node_removed_by_reload_still_renders(config: Config) -> None:
    t = Transition("check", AT, "OK", "KO", "refused", "gone", "web")
    assert "Node:     gone (no longer configured)" in render(t, config, table(), ORIGIN).body


def test_digest_lists_every_change_in_time_order(config: Config) -> None:
    items = [
        Transition(
            "check", AT + i, "OK" if i % 2 == 0 else "KO", "KO" if i % 2 == 0 else "OK", "flap", "n1", "web"
        )
        for i in (3, 0, 2, 1)
    ]
    mail = render_digest(items, config, table(), ORIGIN)
    assert mail.subject == "[n1] 4 changes in 3 s (digest)"
    lines = [line for line in mail.body.splitlines() if line.startswith("08:00:0")]
    assert lines == [
        "08:00:00  web on n1: OK -> KO (flap)",
        "08:00:01  web on n1: KO -> OK (flap)",
        "08:00:02  web on n1: OK -> KO (flap)",
        "08:00:03  web on n1: KO -> OK (flap)",
    ]
