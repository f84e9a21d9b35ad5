"""A real BIND 9 (Debian's named) for tests: foreground, loopback, free port, stopped in teardown.

named only binds addresses configured on an interface, and this machine's loopback
carries 127.0.0.1 and ::1 alone (the rest of 127.0.0.0/8 is reachable but not
configured), so every instance listens on 127.0.0.1 with a free high port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

from habase import ports

NAMED = Path("/usr/sbin/named")
HOST = "127.0.0.1"

OPTIONS = """
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
"""


def have_named() -> bool:
    """Whether Debian's bind9 is installed."""
    return shutil.which(str(NAMED)) is not None


def wait_until(condition: Callable[[], object], timeout: float, what: str, every: float = 0.05) -> None:
    """Poll a condition until it holds; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def free_port(
    host: str = HOST, kinds: tuple[socket.SocketKind, ...] = (socket.SOCK_STREAM, socket.SOCK_DGRAM)
) -> int:
    """A port free on host for every kind given, outside the kernel's ephemeral range (habase.ports)."""
    return ports.free_port([host], udp=socket.SOCK_DGRAM in kinds)


class Named:
    """One named process in the foreground, its files in `directory`.

    `conf` is the part of named.conf after the options (keys, zones); `files` are
    written beside it (zone files); `probe_zone` is asked for its SOA to know named is up.
    """

    def __init__(self, directory: Path, port: int, conf: str, files: dict[str, str], probe_zone: str) -> None:
        self.directory = directory
        self.host = HOST
        self.port = port
        self.probe_zone = probe_zone
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "named.log"
        directory.mkdir(parents=True, exist_ok=True)
        options = OPTIONS.format(dir=directory, port=port, host=self.host)
        (directory / "named.conf").write_text(options + conf)
        for name, text in files.items():
            (directory / name).write_text(text)

    @property
    def server(self) -> str:
        """host:port, as config files and the CLI take it."""
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        """Run named and wait until it answers the probe zone's SOA."""
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
        """Whether named answers the probe zone's SOA authoritatively."""
        try:
            reply = self.query(self.probe_zone, "SOA", timeout=0.5)
        except (dns.exception.DNSException, OSError):
            return False
        return reply.rcode() == dns.rcode.NOERROR and bool(reply.flags & dns.flags.AA) and bool(reply.answer)

    def query(self, name: str, rdtype: str, timeout: float = 2.0) -> dns.message.Message:
        """Ask named directly, over UDP."""
        return dns.query.udp(dns.message.make_query(name, rdtype), self.host, port=self.port, timeout=timeout)


def start_on_free_port(make: Callable[[int], Named]) -> Named:
    """Build with a free port and start; retry when the port is taken before named binds it."""
    for attempt in range(3):
        server = make(free_port(HOST))
        try:
            server.start()
            return server
        except AssertionError:
            if attempt == 2 or "address in use" not in server.log.read_text(errors="replace"):
                raise
    raise AssertionError("unreachable")
