"""Bad input of the chaos drill: every listening port, bounded messages."""

from __future__ import annotations

import random
from pathlib import Path

from simplefailover.chaos.garbage import payload, targets
from simplefailover.demo.layout import make_layout


def test_bad_input_reaches_every_listening_port_and_stays_bounded(tmp_path: Path) -> None:
    layout = make_layout(tmp_path, ["127.0.0.163", "127.0.0.164"])
    node = layout.nodes[0]
    ports = {(t.port, t.udp) for t in targets(layout, node)}
    p = node.ports
    assert ports == {
        (p.dns, True), (p.dns, False), (p.peers, True), (p.control, False), (p.data, False),
        (p.dashboard, False), (layout.http_port, False),
    }  # fmt: skip
    rng = random.Random(3)
    sizes = [len(payload(rng)) for _ in range(200)]
    assert min(sizes) >= 1 and max(sizes) <= 70100
