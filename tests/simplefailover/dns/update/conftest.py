"""A real BIND 9 (Debian's named) on loopback with a TSIG key and an updatable zone.

named only listens on addresses that are configured on an interface, and the
loopback interface carries 127.0.0.1 alone (127.0.0.80-89, this suite's other
addresses, are reachable but not configured), so BIND listens on 127.0.0.1 on a
free high port; the demo nodes and the SMTP server use 127.0.0.81-83.
"""

from __future__ import annotations

from collections.abc import Iterator
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

from tests.support.bind import HOST, Named, free_port, start_on_free_port, wait_until

BIND_HOST = HOST
__all__ = ["Bind", "free_port", "wait_until"]

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
zone "{zone}" {{
    type primary;
    file "{dir}/zone.db";
    {update_rule}
}};
"""


class Bind(Named):
    """named with zone imagicle.example.com, updatable with the test TSIG key."""

    def __init__(self, directory: Path, port: int, update_rule: str = ALLOW_UPDATE) -> None:
        rule = update_rule.replace("{key}", KEY_NAME).replace("{zone}", ZONE)
        conf = NAMED_CONF.format(key=KEY_NAME, secret=SECRET, dir=directory, zone=ZONE, update_rule=rule)
        zone = ZONE_FILE.format(zone=ZONE, host=HOST)
        super().__init__(directory, port, conf, {"zone.db": zone}, probe_zone=ZONE)

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
    server = start_on_free_port(lambda port: Bind(directory, port, update_rule))
    assert isinstance(server, Bind)
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
