"""A real BIND 9 (Debian's named) on loopback with a TSIG key and an updatable zone.

named only listens on addresses that are configured on an interface, and the
loopback interface carries 127.0.0.1 alone (127.0.0.80-89, this suite's other
addresses, are reachable but not configured), so BIND listens on 127.0.0.1 on a
free high port; the demo nodes and the SMTP server use 127.0.0.81-83.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import pytest

NAMED = Path("/usr/sbin/named")
BIND_HOST = "127.0.0.1"
ZONE = "imagicle.example.com"
KEY_NAME = "sf-key"
SECRET = "c2ltcGxlZmFpbG92ZXItdGVzdC10c2lnLWtleS0wMDE="  # test-only key, base64 of 32 bytes
WRONG_SECRET = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmct"

ZONE_FILE = """$TTL 30
@    IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 30
@    IN NS  ns1.{zone}.
ns1  IN A   {host}
ias1 IN A   127.0.0.89
"""

ALLOW_UPDATE = 'allow-update { key "{key}"; };'
# As docs/dns-update.md advises: the key may change the A and AAAA of the managed names only.
UPDATE_POLICY = "update-policy { grant {key} name ias1.{zone}. A AAAA; };"

NAMED_CONF = """
key "{key}" {{ algorithm hmac-sha256; secret "{secret}"; }};
controls {{ }};
options {{
    directory "{dir}";
    listen-on port {port} {{ {host}; }};
    listen-on-v6 {{ none; }};
    pid-file none;
    session-keyfile none;
    recursion no;
    notify no;
    dnssec-validation no;
}};
zone "{zone}" {{
    type primary;
    file "{dir}/zone.db";
    {update_rule}
}};
"""


def wait_until(condition: Callable[[], object], timeout: float, what: str, every: float = 0.05) -> None:
    """Poll a condition until it holds; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def free_port(
    host: str, kinds: tuple[socket.SocketKind, ...] = (socket.SOCK_STREAM, socket.SOCK_DGRAM)
) -> int:
    """A port free on host for every kind given, right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kinds[0]) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
            try:
                for kind in kinds[1:]:
                    with socket.socket(socket.AF_INET, kind) as other:
                        other.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port on {host}")


class Bind:
    """One named process in the foreground, its files in a temporary folder."""

    def __init__(self, directory: Path, port: int, update_rule: str = ALLOW_UPDATE) -> None:
        self.directory = directory
        self.host = BIND_HOST
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "named.log"
        rule = update_rule.replace("{key}", KEY_NAME).replace("{zone}", ZONE)
        conf = NAMED_CONF.format(
            key=KEY_NAME, secret=SECRET, dir=directory, port=port, host=self.host, zone=ZONE, update_rule=rule
        )
        (directory / "named.conf").write_text(conf)
        (directory / "zone.db").write_text(ZONE_FILE.format(zone=ZONE, host=self.host))

    def start(self, timeout: float = 15.0) -> None:
        """Run named and wait until it answers the zone's SOA."""
        assert NAMED.exists(), f"{NAMED} is missing: install Debian's bind9 (make system-deps)"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(NAMED), "-g", "-c", str(self.directory / "named.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self.answers_soa():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise AssertionError(
                    f"named did not come up on {self.host}:{self.port} (if its log says 'permission denied', "
                    f"AppArmor's usr.sbin.named profile may keep it out of {self.directory}):\n{tail}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop named (SIGTERM, then SIGKILL) and wait for it to exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def answers_soa(self) -> bool:
        """Whether named answers the zone's SOA authoritatively."""
        try:
            reply = self.query(ZONE, "SOA", timeout=0.5)
        except (dns.exception.DNSException, OSError):
            return False
        return reply.rcode() == dns.rcode.NOERROR and bool(reply.flags & dns.flags.AA) and bool(reply.answer)

    def query(self, name: str, rdtype: str, timeout: float = 2.0) -> dns.message.Message:
        """Ask named directly, over UDP."""
        return dns.query.udp(dns.message.make_query(name, rdtype), self.host, port=self.port, timeout=timeout)

    def addresses(self, fqdn: str) -> set[str]:
        """The A and AAAA addresses named holds for a name."""
        found: set[str] = set()
        for rdtype in ("A", "AAAA"):
            reply = self.query(fqdn, rdtype)
            for rrset in reply.answer:
                if rrset.rdtype == dns.rdatatype.from_text(rdtype):
                    found.update(rd.address for rd in rrset)
        return found

    def ttl(self, fqdn: str, rdtype: str = "A") -> int | None:
        """The TTL named serves for a name's RRset, or None when there is none."""
        reply = self.query(fqdn, rdtype)
        return reply.answer[0].ttl if reply.answer else None

    def serial(self) -> int:
        """The zone's SOA serial (it increases with every applied update)."""
        return int(self.query(ZONE, "SOA").answer[0][0].serial)

    def set_records(self, fqdn: str, rdtype: str, *addresses: str) -> None:
        """Change a record as an administrator would, behind the updater's back."""
        message = dns.update.UpdateMessage(ZONE, keyring=dns.tsig.Key(KEY_NAME, SECRET, "hmac-sha256"))
        message.replace(fqdn + ".", 30, rdtype, *addresses)
        reply = dns.query.tcp(message, self.host, port=self.port, timeout=5)
        assert reply.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(reply.rcode())


def start_bind(directory: Path, update_rule: str = ALLOW_UPDATE) -> Bind:
    """Start named in directory on a free port."""
    directory.mkdir()
    server: Bind | None = None
    for attempt in range(3):  # a free port can be taken by someone else before named binds it
        server = Bind(directory, free_port(BIND_HOST), update_rule)
        try:
            server.start()
            break
        except AssertionError:
            if attempt == 2 or "address in use" not in server.log.read_text(errors="replace"):
                raise
    assert server is not None
    return server


@pytest.fixture
def bind(tmp_path: Path) -> Iterator[Bind]:
    """A running BIND with zone imagicle.example.com updatable with key sf-key (allow-update)."""
    server = start_bind(tmp_path / "bind")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bind_with_policy(tmp_path: Path) -> Iterator[Bind]:
    """The same, with an update-policy that lets the key change ias1's A and AAAA only."""
    server = start_bind(tmp_path / "bind-policy", UPDATE_POLICY)
    try:
        yield server
    finally:
        server.stop()
