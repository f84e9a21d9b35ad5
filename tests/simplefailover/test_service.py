"""ServiceGroup: order of start and stop, a failed start, a service that cannot reconfigure."""

from __future__ import annotations

import pytest

from habase.service import ServiceGroup
from simplefailover.config import Config, parse_config

CONFIG = parse_config(
    "zone: {name: t.test}\nnodes: [{id: a, address: 127.0.0.1}]\n"
    "pollings: [{id: p, method: tcp, port: 9}]\nhostnames: [{name: w, polling: p}]\n"
)


class Part:
    def __init__(
        self, name: str, log: list[str], fail_start: bool = False, fail_reconf: bool = False
    ) -> None:
        self.name = name
        self.log = log
        self.fail_start = fail_start
        self.fail_reconf = fail_reconf

    def start(self) -> None:
        if self.fail_start:
            raise OSError(f"{self.name} cannot bind")
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    def reconfigure(self, config: Config) -> None:
        if self.fail_reconf:
            raise ValueError("cannot follow")
        self.log.append(f"reconfigure {self.name}")


def test_start_in_order_stop_in_reverse() -> None:
    log: list[str] = []
    group = ServiceGroup()
    for name in ("dns", "dashboard", "pollers"):
        group.add(Part(name, log))
    group.start()
    group.stop()
    assert log == [
        "start dns",
        "start dashboard",
        "start pollers",
        "stop pollers",
        "stop dashboard",
        "stop dns",
    ]


def test_failed_start_stops_what_started() -> None:
    log: list[str] = []
    group = ServiceGroup()
    group.add(Part("dns", log))
    group.add(Part("dashboard", log, fail_start=True))
    group.add(Part("pollers", log))
    with pytest.raises(OSError, match="dashboard cannot bind"):
        group.start()
    assert log == ["start dns", "stop dns"]


def test_one_failed_reconfigure_does_not_stop_the_others() -> None:
    log: list[str] = []
    group = ServiceGroup()
    group.add(Part("dns", log, fail_reconf=True))
    group.add(Part("pollers", log))
    assert group.reconfigure(CONFIG) == ["dns"]
    assert log == ["reconfigure pollers"]
