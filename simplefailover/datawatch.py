"""Read each node's clustersync health API for data-aware answers (hostnames[].max_data_lag).

Every `schedule.interval` seconds, while some hostname has max_data_lag, GET each node's
`data_url` (clustersync's public, read-only `/status`: readiness and data freshness) and
hand the facts to the engine, which filters the candidates (simplefailover.datalag).
A node that does not answer counts as not ready, with the reason.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from habase.service import start_thread

from .config import Config
from .datalag import DataFact
from .engine import Engine

logger = logging.getLogger(__name__)

TIMEOUT = 2.0  # seconds per node; a stopped clustersync must not hold the others up long


def fact_of(body: bytes) -> DataFact:
    """The data fact in a clustersync /status body; a body without one says why."""
    try:
        data: Any = json.loads(body)
        readiness, fresh = data["readiness"], data.get("data") or {}
        ready, reason, age = readiness["ready"], readiness.get("reason") or "", fresh.get("age")
    except (ValueError, TypeError, KeyError, AttributeError):
        return DataFact(False, None, "unreadable clustersync status")
    if not isinstance(ready, bool) or (age is not None and not isinstance(age, int | float)):
        return DataFact(False, None, "unreadable clustersync status")
    return DataFact(ready, None if age is None else float(age), "" if ready else str(reason))


def fetch(url: str, timeout: float = TIMEOUT) -> DataFact:
    """One node's fact: GET its URL (clustersync answers 200, or 503 from /readiness)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return fact_of(response.read(65536))
    except urllib.error.HTTPError as exc:
        return fact_of(exc.read(65536))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return DataFact(False, None, f"clustersync unreachable: {reason}")


class DataWatch:
    """The poll loop as a service; idle while no hostname has max_data_lag."""

    name = "datawatch"

    def __init__(self, config: Config, engine: Engine) -> None:
        self._config = config
        self._engine = engine
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = start_thread("datawatch", self._run)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(TIMEOUT * 2)
            self._thread = None

    def reconfigure(self, config: Config) -> None:
        self._config = config

    def round(self) -> dict[str, DataFact]:
        """Read every node once and give the facts to the engine."""
        urls = self._config.data_urls()
        timeout = min(TIMEOUT, self._config.schedule.interval)
        facts = {node_id: fetch(url, timeout) for node_id, url in urls.items()}
        self._engine.set_data(facts, time.time())
        return facts

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.round()
            except Exception:  # one bad round must not end the watch
                logger.exception("data freshness round failed")
            self._stopping.wait(self._config.schedule.interval)
