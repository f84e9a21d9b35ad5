"""A real Kamailio (Debian's kamailio) for SIP tests: foreground, loopback, free port, stopped in teardown.

It answers OPTIONS statelessly after its `sanity` module has checked the request (a
malformed one gets no 200): 200 Alive, or 404 for the user `nobody`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

KAMAILIO = Path("/usr/sbin/kamailio")
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=udp:{host}:{port}
listen=tcp:{host}:{port}
mpath="{modules}/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "sanity.so"
request_route {{
    if (!sanity_check()) {{ exit; }}
    if (is_method("OPTIONS")) {{
        if ($rU == "nobody") {{ sl_send_reply("404", "Not Found"); exit; }}
        sl_send_reply("200", "Alive");
        exit;
    }}
    sl_send_reply("501", "Not Implemented");
}}
"""


def have_kamailio() -> bool:
    """Whether Debian's kamailio is installed."""
    return shutil.which(str(KAMAILIO)) is not None and MODULES.is_dir()


class Kamailio:
    """One kamailio in the foreground (with its children, in a process group of its own)."""

    def __init__(self, directory: Path, host: str, port: int) -> None:
        self.directory, self.host, self.port = directory, host, port
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "kamailio.cfg"
        self.config.write_text(CONFIG.format(host=host, port=port, modules=MODULES))
        self.log = directory / "kamailio.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Run kamailio and wait until its TCP listener takes connections."""
        command = [str(KAMAILIO), "-f", str(self.config), "-DD", "-E", "-w", str(self.directory)]
        command += ["-P", str(self.directory / "kamailio.pid")]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise AssertionError(
                        f"kamailio did not come up on {self.host}:{self.port}:\n{tail}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop kamailio and its children (SIGTERM to the group, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # children that outlived the main process
