"""A flapping storm of 100,000 transitions keeps the history under its size limit (SPEC SF-6).

A real engine is fed results that flip every time (fall 1, rise 1), so each result is a
check transition and an answer change; the real history service writes them with its
own thread into a 2 MB database. The bound is asserted; the time the page takes is
measured by bench/history.py, not here.
"""

from __future__ import annotations

import re
from pathlib import Path

from simplefailover.config import parse_config
from simplefailover.dashboard import create_app
from simplefailover.engine import Engine
from simplefailover.history import HistoryService, store
from simplefailover.metrics import Metrics
from simplefailover.pollers.result import PollResult

CONFIG = """
zone: {{name: example.test}}
nodes:
  - {{id: node1, address: 127.0.24.21, priority: 10}}
  - {{id: node2, address: 127.0.24.22, priority: 5}}
pollings: [{{id: web, method: http, url: "http://{{address}}/"}}]
hostnames: [{{name: www, polling: web}}]
schedule: {{fall: 1, rise: 1}}
history: {{state_dir: {state}, max_mb: {mb}, flush_interval: 0.05}}
"""
TRANSITIONS = 100_000
LIMIT_MB = 2


def test_a_flapping_storm_stays_under_the_size_limit(tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(state=tmp_path, mb=LIMIT_MB))
    engine = Engine(config)
    metrics = Metrics()
    history = HistoryService(config, tmp_path / "history.db", metrics.registry)
    engine.subscribe(history.on_transitions)
    history.start()
    try:
        start = 1_800_000_000.0
        engine.record("node2", "web", PollResult(True, 0.01, "", start))
        sizes = []
        flips = 0
        for i in range(TRANSITIONS):
            result = PollResult(
                i % 2 == 0, 0.002 + (i % 7) / 1000, "" if i % 2 == 0 else "refused", start + i * 0.05
            )
            history.observe_result("node1", "web", result)
            flips += len([t for t in engine.record("node1", "web", result) if t.kind == "check"])
            if i % 500 == 0:  # wherever the writer is
                sizes.append(store.size_bytes(history.path))
            if i % 10_000 == 9_999:
                assert history.wait_written(60)
                sizes.append(store.size_bytes(history.path))
        assert flips == TRANSITIONS
        assert history.wait_written(60)
        sizes.append(store.size_bytes(history.path))
        assert max(sizes) <= LIMIT_MB * 1_000_000, max(sizes)

        db = history.reader()
        try:
            kept = store.events(db, kinds=["check"], node="node1", limit=1, newest_first=True)
            count = db.execute("SELECT count(*) FROM events").fetchone()[0]
            rows = db.execute("SELECT count(*) FROM spans").fetchone()[0]
        finally:
            db.close()
        # The newest events are the ones kept; the oldest went.
        assert kept and kept[0].at == start + (TRANSITIONS - 1) * 0.05
        assert 1_000 < count < 2 * TRANSITIONS
        # Time is kept per bucket, not per transition: 5,000 s of flapping is ~ 85 minutes x 2 states.
        assert rows < 1_000

        # The page still draws it, with a bounded number of shapes.
        app = create_app(
            engine, metrics, {"TESTING": True}, clock=lambda: start + TRANSITIONS * 0.05, history=history
        )
        page = app.test_client().get("/history?window=day")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        row = re.search(r'<tr data-node="node1" data-polling="web">(.*?)</tr>', html, re.S)
        assert row is not None and row.group(1).count("<rect") < 3 * 288 + 2
        assert "50.00 %" in row.group(1)  # as long OK as KO
        metrics_text = app.test_client().get("/metrics").get_data(as_text=True)
        assert (
            'simplefailover_check_transitions_total{node="node1",polling="web",to="KO"} 50000.0'
            in metrics_text
        )
    finally:
        history.stop()
