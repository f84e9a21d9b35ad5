"""The demo's generated configs: valid for both packages, consistent across the nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from simplefailover.config import parse_config
from simplefailover.demo.layout import FAST, Ports, Timing, make_layout

ADDRESSES = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]


@pytest.mark.parametrize("offset", [0, -12.5])
def test_every_node_config_is_valid_and_agrees_with_the_others(tmp_path: Path, offset: float) -> None:
    layout = make_layout(tmp_path, ADDRESSES, [Ports(dns=5354 + i) for i in range(3)])
    configs = [parse_config(layout.config_text(n, offset), str(n.config), n.folder) for n in layout.nodes]
    for spec, config in zip(layout.nodes, configs, strict=True):
        assert config.cluster is not None and config.peers is not None
        assert config.cluster.node_id == config.peers.id == spec.node_id
        assert str(config.cluster.address) == spec.address
        assert config.cluster.database == spec.database
        assert config.cluster.secret_path().resolve() == layout.secret  # one secret for every node
        assert config.cluster.test_clock_offset == offset
        assert config.dns.addresses() == [(spec.address, spec.ports.dns)]
        assert [str(n.address) for n in config.nodes] == ADDRESSES
    # the same nodes, checks and members everywhere: the instances can agree
    assert len({repr((c.nodes, c.pollings, c.hostnames, c.peers.members)) for c in configs}) == 1  # type: ignore[union-attr]
    priorities = [n.priority for n in configs[0].nodes]
    assert priorities == sorted(priorities, reverse=True)  # node1 first


def test_detection_bound_grows_with_every_setting() -> None:
    base = Timing().detection_bound()
    assert FAST.detection_bound() < base
    for change in ({"interval": 10}, {"fall": 3}, {"timeout": 2}, {"retry_interval": 2}, {"heartbeat": 2}):
        assert Timing(**change).detection_bound() > base
