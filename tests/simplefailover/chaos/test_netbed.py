"""The namespace bed and its iptables faults, with real namespaces, veths, a bridge and TCP servers.

Needs root and `ip`/`iptables`; uses only the sf20 prefix and 198.18.20.0/24 (issue 20).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from simplefailover.chaos.netbed import NetBed, in_ns, missing, namespaces, root_links
from simplefailover.chaos.netfaults import NetFaults
from simplefailover.chaos.netplan import NetFault

from .conftest import BED_WAIT

pytestmark = [
    pytest.mark.skipif(missing() is not None, reason=str(missing())),
    pytest.mark.timeout(120 + BED_WAIT),  # waiting for the bed included
    pytest.mark.usefixtures("bed_to_ourselves"),  # conftest.py: one drill on the bed at a time
]

PORT = 8080
# Prints "ready", then answers every connection with its node's name; exits when stdin closes.
SERVER = textwrap.dedent(
    """
    import socket, sys, threading
    s = socket.create_server((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    def serve():
        while True:
            c, _ = s.accept()
            c.sendall(sys.argv[3].encode()); c.close()
    threading.Thread(target=serve, daemon=True).start()
    sys.stdin.read()
    """
)
# Prints which of the given addresses it reaches from its namespace.
PROBE = textwrap.dedent(
    """
    import socket, sys
    for a in sys.argv[2:]:
        try:
            with socket.create_connection((a, int(sys.argv[1])), timeout=0.5) as c:
                print(c.recv(100).decode())
        except OSError:
            pass
    """
)


@pytest.fixture
def bed(bed_to_ourselves: None) -> Iterator[NetBed]:
    bed = NetBed(["node1", "node2", "node3"])
    servers: list[subprocess.Popen[str]] = []
    try:
        bed.up()
        for node in bed.nodes:
            argv = in_ns(node.namespace, sys.executable, "-c", SERVER, node.address, str(PORT), node.node_id)
            server = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            servers.append(server)
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield bed
    finally:
        for server in servers:
            server.kill()
            server.wait(10)
        bed.down()
    assert not namespaces() and not root_links(), "the bed left something behind"


def reach(bed: NetBed, source: str | None) -> set[str]:
    """The nodes reachable over TCP from a node's namespace (None: the root namespace, the clients)."""
    addresses = [n.address for n in bed.nodes]
    argv = [sys.executable, "-c", PROBE, str(PORT), *addresses]
    if source is not None:
        argv = in_ns(bed.node(source).namespace, *argv)
    return set(subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.split())


def test_faults_cut_exactly_what_they_should(bed: NetBed) -> None:
    every = {"node1", "node2", "node3"}
    faults = NetFaults(bed, peers_port=52710)
    assert reach(bed, None) == every and reach(bed, "node1") == every

    isolated = NetFault(0, 1, "node isolated", "node2")
    faults.apply(isolated)
    assert reach(bed, None) == {"node1", "node3"}
    assert reach(bed, "node1") == {"node1", "node3"}
    assert reach(bed, "node2") == {"node2"}  # its own address: local traffic, over lo
    faults.heal(isolated)
    assert reach(bed, None) == every

    partition = NetFault(0, 1, "partition", "node1", group=("node1",))
    faults.apply(partition)
    assert reach(bed, None) == every  # the clients reach both sides
    assert reach(bed, "node1") == {"node1"}
    assert reach(bed, "node3") == {"node2", "node3"}
    faults.heal(partition)

    one_way = NetFault(0, 1, "one-way loss", "node3", target="node1")
    faults.apply(one_way)
    assert reach(bed, "node3") == {"node2", "node3"}
    assert reach(bed, "node1") == {"node1", "node2"}  # TCP needs both ways: node3's replies are lost
    faults.heal()

    peers = NetFault(0, 1, "peers cut", "node1")
    faults.apply(peers)
    assert reach(bed, "node2") == every  # only the peers' UDP port is cut
    faults.heal()
    assert all(reach(bed, n) == every for n in (None, "node1", "node2", "node3"))


def test_a_bed_left_by_a_killed_run_is_removed_at_the_next_start() -> None:
    killed = textwrap.dedent(
        """
        import os, signal
        from simplefailover.chaos.netbed import NetBed
        NetBed(["node1", "node2"]).up()
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no atexit
        """
    )
    subprocess.run([sys.executable, "-c", killed], timeout=60)
    bed = NetBed(["node1"])
    try:
        assert len(namespaces()) == 3 and root_links()  # stale: bridge, two nodes, the client veth
        bed.up()
        assert sorted(namespaces()) == ["sf20-br", "sf20-n1"]
    finally:
        bed.down()
    assert not namespaces() and not root_links()


def test_a_second_drill_is_refused_while_one_holds_the_bed() -> None:
    first = NetBed(["node1"])
    first.up()
    try:
        holder = "from simplefailover.chaos.netbed import NetBed; NetBed(['node1']).up()"
        done = subprocess.run([sys.executable, "-c", holder], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "another network drill holds" in done.stderr
        assert sorted(namespaces()) == ["sf20-br", "sf20-n1"]  # the first one's bed untouched
        with socket.socket() as sock:
            sock.settimeout(0.5)
            assert sock.connect_ex((first.node("node1").address, PORT)) != 0  # up, nothing listening
    finally:
        first.down()
