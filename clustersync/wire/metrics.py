"""Prometheus metrics of a running member, read at scrape time (served at /metrics on the control port)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

STATES = ("green", "yellow", "red")

AlarmSource = Callable[[], Mapping[str, Any]]
CountSource = Callable[[], Mapping[str, int]]  # applied, duplicates, conflicts, pending, members


class _Alarms(Collector):
    def __init__(self, alarms: AlarmSource, counts: CountSource) -> None:
        self._alarms = alarms
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        a = self._alarms()
        ready = GaugeMetricFamily("clustersync_ready", "1 when synchronisation is ready (Readiness alarm)")
        ready.add_metric([], 1 if a["readiness"]["ready"] else 0)
        yield ready
        for name, alarm in (("activity", a["activity"]), ("time_alignment", a["time_alignment"])):
            family = GaugeMetricFamily(
                f"clustersync_{name}", f"1 for the {name.replace('_', ' ')} alarm's state", labels=["state"]
            )
            for state in STATES:
                family.add_metric([state], 1 if alarm["state"] == state else 0)
            yield family
        offsets = [abs(float(v)) for v in a["time_alignment"].get("offsets", {}).values()]
        offset = GaugeMetricFamily("clustersync_clock_offset_seconds", "largest clock offset to a peer")
        offset.add_metric([], max(offsets, default=0.0))
        yield offset
        counts = self._counts()
        for key in ("applied", "duplicates", "conflicts"):
            counter = CounterMetricFamily(f"clustersync_rows_{key}", f"row versions {key} from peers")
            counter.add_metric([], counts.get(key, 0))
            yield counter
        for key, text in (("pending", "local changes not yet versioned"), ("members", "cluster members")):
            gauge = GaugeMetricFamily(f"clustersync_{key}", text)
            gauge.add_metric([], counts.get(key, 0))
            yield gauge


class Metrics:
    """Every metric clustersync exports, in its own registry."""

    def __init__(self, alarms: AlarmSource, counts: CountSource) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Alarms(alarms, counts))
        self.sessions = Counter(
            "clustersync_sessions", "sync sessions started by this node, by outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.sent = Counter("clustersync_changes_sent", "row versions sent to peers", registry=self.registry)
        self.received = Counter(
            "clustersync_changes_received", "new row versions received from peers", registry=self.registry
        )

    def text(self) -> bytes:
        """The Prometheus exposition text."""
        return generate_latest(self.registry)
