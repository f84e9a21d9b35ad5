"""Fixtures for the dashboard: a config on this part's test addresses, an engine fed by hand."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient

from simplefailover.config import Config, parse_config
from simplefailover.dashboard import create_app
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.pollers.result import PollResult

SECRET = "s3cret-Smtp-Pa55word"
SECRET_ENV = "SF_DASHBOARD_TEST_SMTP_PASSWORD"

CONFIG = f"""
zone: {{name: example.test, ttl: 30, ko_ttl: 5}}
nodes:
  - {{id: node1, address: 127.0.0.41, priority: 10}}
  - {{id: node2, address: 127.0.0.42, priority: 5}}
pollings:
  - {{id: web, method: http, url: "http://{{address}}:8080/"}}
  - {{id: sip, method: tcp, port: 5060}}
hostnames:
  - {{name: ias1, polling: web}}
  - {{name: ias2, polling: sip, when_all_down: none}}
dashboard: {{listen: "127.0.0.40:0", refresh: 7}}
monitoring:
  smtp: {{host: 127.0.0.1, username: alerts, password_env: {SECRET_ENV}}}
"""


def make_config(text: str = CONFIG) -> Config:
    return parse_config(text)


def ok(at: float = 1000.0, latency: float = 0.012) -> PollResult:
    return PollResult(True, latency, "", at)


def ko(at: float = 1000.0, error: str = "connection refused") -> PollResult:
    return PollResult(False, 0.003, error, at)


def feed_all(engine: Engine, down: Collection[tuple[str, str]] = (), at: float = 1000.0) -> None:
    """One result for every check: KO for the pairs in `down`, OK for the rest."""
    config = engine.config
    for polling in config.pollings:
        for node in config.nodes:
            key = (node.id, polling.id)
            engine.record(*key, ko(at) if key in down else ok(at))


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
def engine(config: Config) -> Engine:
    return Engine(config)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def app(engine: Engine, metrics: Metrics, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    yield create_app(engine, metrics, {"TESTING": True}, clock=lambda: 1010.0)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Row:
    attrs: dict[str, str | None]
    cells: list[str] = field(default_factory=list)


class _Tables(HTMLParser):
    """Collect the cell texts of every body row of every table, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[Row]] = {}
        self._table: list[Row] | None = None
        self._row: Row | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tbody" and self._table is not None:
            self._table.clear()  # drop the header row
        elif tag == "tr" and self._table is not None:
            self._row = Row(dict(attrs))
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, table_id: str) -> list[Row]:
    """Body rows of the table with that id."""
    parser = _Tables()
    parser.feed(html)
    assert table_id in parser.tables, f"no table with id {table_id!r} in the page"
    return parser.tables[table_id]
