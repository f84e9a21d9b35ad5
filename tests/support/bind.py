"""A real BIND 9 (Debian's named) for tests: foreground, loopback, free port, stopped in teardown.

BIND only binds addresses configured on an interface, and this machine's loopback has
127.0.0.1 and ::1 only, so every instance listens on 127.0.0.1 with its own port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

NAMED = "/usr/sbin/named"
ADDRESS = "127.0.0.1"


def have_named() -> bool:
    return shutil.which(NAMED) is not None


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((ADDRESS, 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind((ADDRESS, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for BIND")


class Named:
    """One named process serving the given zones (name -> zone file text)."""

    def __init__(self, directory: Path, zones: dict[str, str], extra: str = "", zone_extra: str = "") -> None:
        self.directory = directory
        self.port = free_port()
        self.zones = zones
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        zone_blocks = []
        for name, text in zones.items():
            (directory / f"{name}.zone").write_text(text)
            zone_blocks.append(
                f'zone "{name}" {{ type primary; file "{directory}/{name}.zone"; {zone_extra} }};'
            )
        (directory / "named.conf").write_text(
            f'options {{ directory "{directory}"; listen-on port {self.port} {{ {ADDRESS}; }};\n'
            f"  listen-on-v6 {{ none; }}; recursion no; pid-file none; dnssec-validation no; }};\n"
            "controls { };\n" + extra + "\n" + "\n".join(zone_blocks) + "\n"
        )
        self.log = directory / "named.log"

    def start(self, timeout: float = 15) -> None:
        """Start named and wait until it answers SOA for its first zone."""
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [NAMED, "-g", "-c", str(self.directory / "named.conf")], stdout=log, stderr=subprocess.STDOUT
            )
        first = next(iter(self.zones))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"named exited: {self.log.read_text()[-2000:]}")
            try:
                query = dns.message.make_query(first, dns.rdatatype.SOA)
                dns.query.udp(query, ADDRESS, port=self.port, timeout=0.2)
                return
            except (dns.exception.DNSException, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"named did not answer within {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None

    @property
    def server(self) -> str:
        return f"{ADDRESS}:{self.port}"
