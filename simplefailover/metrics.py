"""Prometheus metrics of one running service, in its own registry (no globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .pollers.certs import days_left
from .pollers.result import PollResult
from .state import AnswerTable, CheckState, Status, Transition

CountSource = Callable[[], Mapping[str, int]]


class _DnsCounts(Collector):
    """Reads DNS query counts by response code from the responder (maybe several processes)."""

    def __init__(self, source: CountSource) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "simplefailover_dns_queries", "DNS queries answered, by response code", labels=["rcode"]
        )
        for rcode, count in sorted(self._source().items()):
            family.add_metric([rcode], count)
        yield family


class Metrics:
    """Every metric the service exports; pass it to the parts that update it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.poll_results = Counter(
            "simplefailover_poll_results", "Poll results", ["node", "polling", "status"], registry=r
        )
        self.poll_latency = Histogram(
            "simplefailover_poll_latency_seconds",
            "Poll latency",
            ["polling"],
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10),
        )
        self.check_up = Gauge(
            "simplefailover_check_up",
            "1 when a (node, polling) is OK, 0 when KO",
            ["node", "polling"],
            registry=r,
        )
        self.answer_changes = Counter(
            "simplefailover_answer_changes", "Changes of a hostname's answer", ["hostname"], registry=r
        )
        self.all_down = Gauge(
            "simplefailover_hostname_all_down",
            "1 while no node is OK for a hostname",
            ["hostname"],
            registry=r,
        )
        self.serial = Gauge("simplefailover_soa_serial", "SOA serial served", registry=r)
        # RFC 2136 updates to dns.update.server (simplefailover.dns.update)
        self.dns_updates_sent = Counter(
            "simplefailover_dns_updates_sent",
            "UPDATE messages accepted by the DNS server",
            ["hostname"],
            registry=r,
        )
        self.dns_update_failures = Counter(
            "simplefailover_dns_update_failures",
            "Failed attempts to read or update a hostname on the DNS server",
            ["hostname"],
            registry=r,
        )
        self.dns_update_in_sync = Gauge(
            "simplefailover_dns_update_in_sync",
            "1 when the DNS server was last seen holding the agreed answer, 0 when not",
            ["hostname"],
            registry=r,
        )

        # TLS certificates seen by https and sip-over-TLS checks
        self.cert_expiry = Gauge(
            "simplefailover_tls_cert_expiry_timestamp_seconds",
            "notAfter of the TLS certificate a check last saw, Unix time",
            ["node", "polling"],
            registry=r,
        )
        self.cert_days_left = Gauge(
            "simplefailover_tls_cert_days_left",
            "Days until the TLS certificate a check last saw expires (negative: expired)",
            ["node", "polling"],
            registry=r,
        )

    def observe_result(self, node_id: str, polling_id: str, result: PollResult) -> None:
        """Count one poll result."""
        self.poll_results.labels(node_id, polling_id, result.status).inc()
        self.poll_latency.labels(polling_id).observe(result.latency)
        if result.cert_not_after is not None:
            self.cert_expiry.labels(node_id, polling_id).set(result.cert_not_after)
            self.cert_days_left.labels(node_id, polling_id).set(
                round(days_left(result.cert_not_after, result.at), 3)
            )

    def observe_transitions(self, transitions: list[Transition], table: AnswerTable) -> None:
        """Follow state changes."""
        for t in transitions:
            if t.kind == "check":
                self.check_up.labels(t.node_id, t.polling_id).set(1 if t.new == "OK" else 0)
            elif t.kind == "answer":
                self.answer_changes.labels(t.hostname).inc()
            elif t.kind in ("all_down", "recovered"):
                self.all_down.labels(t.hostname).set(1 if t.kind == "all_down" else 0)
        self.serial.set(table.serial)

    def follow_config(self, checks: Mapping[tuple[str, str], CheckState]) -> None:
        """After a reload: drop series of checks that no longer exist, keep the others."""
        self.check_up.clear()
        for gauge in (self.cert_expiry, self.cert_days_left):
            gauge.clear()
        for (node_id, polling_id), state in checks.items():
            if state.status is not Status.UNKNOWN:
                self.check_up.labels(node_id, polling_id).set(1 if state.status is Status.OK else 0)
            last = state.last
            if last is not None and last.cert_not_after is not None:
                self.cert_expiry.labels(node_id, polling_id).set(last.cert_not_after)
                self.cert_days_left.labels(node_id, polling_id).set(
                    round(days_left(last.cert_not_after, last.at), 3)
                )

    def add_dns_counts(self, source: CountSource) -> None:
        """Export the DNS responder's query counts (source returns {rcode name: count})."""
        self.registry.register(_DnsCounts(source))
