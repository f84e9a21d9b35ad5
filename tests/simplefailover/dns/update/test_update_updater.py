"""The updater service on its own: engines fed by hand, a real BIND, no pollers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from simplefailover.config import Config, parse_config
from simplefailover.dns.update import DnsUpdater
from simplefailover.dns.update_plan import records_of
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from simplefailover.pollers.result import PollResult

from .conftest import KEY_NAME, SECRET, ZONE, Bind, wait_until

IAS1, IAS2 = f"ias1.{ZONE}", f"ias2.{ZONE}"
N1, N2 = "127.0.0.81", "127.0.0.82"


def make_config(bind: Bind, extra: str = "") -> Config:
    return parse_config(f"""
zone: {{name: {ZONE}, ttl: 30}}
nodes:
  - {{id: n1, address: {N1}, priority: 10}}
  - {{id: n2, address: {N2}, priority: 5}}
pollings: [{{id: p, method: tcp, port: 9}}]
hostnames:
  - {{name: ias1, polling: p}}
  - {{name: ias2, polling: p, when_all_down: none}}
schedule: {{fall: 1, rise: 1}}
dns:
  listen: []
  update:
    server: {bind.host}
    port: {bind.port}
    key_name: {KEY_NAME}
    secret_env: SF_TEST_TSIG
    timeout: 1
    verify_interval: 60
    retry_delay: 0.1
    retry_max_delay: 0.5
    {extra}
""")


def feed(engine: Engine, **up: bool) -> None:
    for node_id, ok in up.items():
        engine.record(node_id, "p", PollResult(ok, 0.001, "" if ok else "refused", time.time()))


@pytest.fixture(autouse=True)
def tsig_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_TEST_TSIG", SECRET)


class Instance:
    def __init__(self, config: Config) -> None:
        self.engine = Engine(config)
        self.metrics = Metrics()
        self.failures: list[tuple[str, str, str]] = []
        self.updater = DnsUpdater(
            config, self.engine, self.metrics, on_failure=lambda *args: self.failures.append(args)
        )

    def sent(self, fqdn: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "simplefailover_dns_updates_sent_total", {"hostname": fqdn}
        )
        return value or 0.0

    def holds(self, fqdn: str, *addresses: str) -> bool:
        confirmed = self.updater.confirmed().get(fqdn)
        return confirmed is not None and confirmed == records_of(addresses, confirmed.ttl)


@pytest.fixture
def pair(bind: Bind) -> Iterator[tuple[Instance, Instance]]:
    instances = (Instance(make_config(bind)), Instance(make_config(bind)))
    for instance in instances:
        instance.updater.start()
    try:
        yield instances
    finally:
        for instance in instances:
            instance.updater.stop()


def test_nothing_is_pushed_before_every_check_has_reported(bind: Bind) -> None:
    instance = Instance(make_config(bind))
    instance.updater.start()
    try:
        feed(instance.engine, n1=True)  # n2 not polled yet: the engine is not ready
        time.sleep(0.3)  # nothing to await: the point is that nothing happens
        assert bind.addresses(IAS1) == {"127.0.0.89"}
        feed(instance.engine, n2=True)
        wait_until(lambda: bind.addresses(IAS1) == {N1}, 10, "the first push once ready")
    finally:
        instance.updater.stop()


def test_two_instances_racing_on_every_change_apply_one_update_each_time(
    bind: Bind, pair: tuple[Instance, Instance]
) -> None:
    """Both see the same change at once; the prerequisite lets exactly one UPDATE through."""
    changes = [
        ({"n1": True, "n2": True}, {IAS1: (N1,), IAS2: (N1,)}),
        ({"n1": False}, {IAS1: (N2,), IAS2: (N2,)}),
        ({"n2": False}, {IAS1: (N1, N2), IAS2: ()}),  # all down: every node, or none
        ({"n1": True}, {IAS1: (N1,), IAS2: (N1,)}),
    ]
    serial = bind.serial()
    for step, (up, answers) in enumerate(changes, start=1):
        for instance in pair:
            feed(instance.engine, **up)
        for fqdn, addresses in answers.items():
            wait_until(lambda: all(i.holds(fqdn, *addresses) for i in pair), 10, f"step {step}: {fqdn}")  # noqa: B023
            assert bind.addresses(fqdn) == set(addresses)
            # One accepted UPDATE per hostname per change, whoever sent it.
            assert sum(i.sent(fqdn) for i in pair) == step
        assert bind.serial() == serial + 2 * step
    assert not pair[0].failures and not pair[1].failures


def test_failure_is_reported_once_per_outage_and_retried_with_backoff(bind: Bind) -> None:
    instance = Instance(make_config(bind, extra="alert_after: 2"))
    feed(instance.engine, n1=True, n2=True)
    bind.stop()
    instance.updater.start()
    try:
        failed = "simplefailover_dns_update_failures_total"
        wait_until(
            lambda: (instance.metrics.registry.get_sample_value(failed, {"hostname": IAS1}) or 0) >= 4,
            15,
            "four failed attempts",
        )
        alerts = [f for f in instance.failures if f[0] == IAS1]
        assert len(alerts) == 1
        assert alerts[0][1] == f"{bind.host}:{bind.port}"
        assert "query" in alerts[0][2]
        bind.start()
        wait_until(lambda: instance.holds(IAS1, N1) and instance.holds(IAS2, N1), 10, "put right")
        assert len([f for f in instance.failures if f[0] == IAS1]) == 1
    finally:
        instance.updater.stop()


def test_removing_the_section_on_reload_stops_pushing(bind: Bind) -> None:
    config = make_config(bind)
    instance = Instance(config)
    feed(instance.engine, n1=True, n2=True)
    instance.updater.start()
    try:
        wait_until(lambda: instance.holds(IAS1, N1), 10, "the first push")
        off = config.model_copy(update={"dns": config.dns.model_copy(update={"update": None})})
        instance.engine.reconfigure(off)
        instance.updater.reconfigure(off)
        wait_until(lambda: not instance.updater.confirmed(), 5, "the updater to let go")
        feed(instance.engine, n1=False)
        time.sleep(0.3)  # nothing to await: the point is that nothing happens
        assert bind.addresses(IAS1) == {N1}
    finally:
        instance.updater.stop()
