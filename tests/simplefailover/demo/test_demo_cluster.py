"""`simplefailover demo` as a user runs it: three nodes, replication, failover, clean stops.

On 127.0.0.160-162 with free ports and a folder of its own, so it never meets a running demo.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest
import requests

from simplefailover.config import load_config
from simplefailover.demo.procs import dns_answer

pytestmark = pytest.mark.timeout(150)

ADDRESSES = ["127.0.0.160", "127.0.0.161", "127.0.0.162"]
FQDN = "ias1.imagicle.example.com"
ROOT = Path(__file__).resolve().parents[3]


class Demo:
    """The demo as a child process, with its output collected line by line."""

    def __init__(self, state_dir: Path, addresses: list[str] = ADDRESSES, *options: str) -> None:
        self.state_dir = state_dir
        self.addresses = addresses
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simplefailover", "demo", "--state-dir", str(state_dir),
             "--addresses", ",".join(addresses), "--free-ports", "--fast", *options],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.output.append(line.rstrip())
            self.lines.put(line)

    def wait_line(self, text: str, seconds: float) -> str:
        """The first line (from now on) containing text."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, f"demo exited:\n{self.log()}"
                continue
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {seconds} s:\n{self.log()}")

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def node(self, index: int) -> dict[str, Any]:
        """Where node index (1-based) serves: DNS (host, port) and the app's base URL."""
        config = load_config(self.state_dir / f"node{index}" / "config.yaml")
        url = config.pollings[0].url.format(address=self.addresses[index - 1])  # type: ignore[union-attr]
        host, port = config.dashboard.address()
        return {
            "dns": config.dns.addresses()[0],
            "app": f"http://{urlsplit(url).netloc}",
            "dashboard": f"http://{host}:{port}",
        }

    def answers(self) -> list[tuple[str, ...] | None]:
        """What each node's DNS responder answers for ias1."""
        return [
            dns_answer(self.node(i)["dns"][0], self.node(i)["dns"][1], FQDN)
            for i in range(1, len(self.addresses) + 1)
        ]

    def log(self) -> str:
        tails = []
        for path in sorted(self.state_dir.glob("node*/logs/*.log")):
            text = path.read_text(errors="replace").splitlines()[-8:]
            tails.append(f"--- {path.relative_to(self.state_dir)}\n" + "\n".join(text))
        return "\n".join(self.output[-40:]) + "\n" + "\n".join(tails)

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(40)


def processes_under(folder: Path) -> dict[int, str]:
    """Pid -> command line of live processes that mention folder (the demo's children all do)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(ln for ln in (entry / "status").read_text().splitlines() if ln.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if str(folder) in cmdline and "zombie" not in state:
            found[int(entry.name)] = cmdline
    return found


def wait_for(what: str, condition: Callable[[], Any], seconds: float, demo: Demo) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except (OSError, requests.RequestException) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what} (last: {last!r})\n{demo.log()}")


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "demo"
    yield folder
    for pid in processes_under(folder):  # never leave a process behind, even when the test failed
        os.kill(pid, signal.SIGKILL)


def test_demo_replicates_fails_over_and_stops_cleanly(state_dir: Path) -> None:
    demo = Demo(state_dir)
    try:
        demo.wait_line("Try:", 90)
        first, second, _ = ADDRESSES
        wait_for("every instance answering node1", lambda: demo.answers() == [(first,)] * 3, 30, demo)

        # The printed administrator password opens the dashboards' actions (SF-11).
        line = demo.wait_line("dashboard administrator", 10)
        password = line.split("password ", 1)[1].split(",", 1)[0]
        dashboard = demo.node(2)["dashboard"]
        with requests.Session() as browser:
            form = browser.get(f"{dashboard}/login", timeout=5).text
            token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            login = {"csrf_token": token, "password": password}
            logged = browser.post(f"{dashboard}/login", data=login, allow_redirects=False, timeout=5)
            assert logged.status_code == 303 and "sf_admin" in browser.cookies

        # A contact added on node1's app is read on node3's, through clustersync.
        app1, app3 = demo.node(1)["app"], demo.node(3)["app"]
        created = requests.post(f"{app1}/api/contacts", json={"name": "Ada", "phone": "42"}, timeout=5)
        assert created.status_code == 201
        cid = created.json()["id"]
        on_node3 = wait_for(
            "the contact on node3",
            lambda: [c for c in requests.get(f"{app3}/api/contacts", timeout=5).json() if c["id"] == cid],
            30,
            demo,
        )
        assert on_node3[0]["name"] == "Ada" and on_node3[0]["phone"] == "42"

        # node1's app stops: every instance moves the name to node2, the data stays on node3.
        demo.command("stop node1 app")
        demo.wait_line("node1: stopped app", 20)
        # the alert mail, printed by the demo's mail sink
        wait_for("the mail", lambda: any("web KO on node1" in line for line in demo.output), 30, demo)
        wait_for("every instance answering node2", lambda: demo.answers() == [(second,)] * 3, 30, demo)
        assert [c["id"] for c in requests.get(f"{app3}/api/contacts", timeout=5).json()] == [cid]
    finally:
        code = demo.stop(signal.SIGINT)
    assert code == 0, demo.log()
    assert "stopped" in demo.output[-1]
    assert processes_under(state_dir) == {}

    # Started again at once (the ports of the last run are still in TIME_WAIT): it comes up, and
    # SIGTERM stops it as cleanly as Ctrl-C.
    again = Demo(state_dir)
    try:
        again.wait_line("Try:", 90)
        wait_for("every instance answering node1 again", lambda: again.answers() == [(first,)] * 3, 30, again)
        contacts = requests.get(f"{again.node(2)['app']}/api/contacts", timeout=5).json()
        assert [c["id"] for c in contacts] == [cid]  # the data stayed across the restart
    finally:
        code = again.stop(signal.SIGTERM)
    assert code == 0, again.log()
    assert processes_under(state_dir) == {}

    # The same folder with other addresses: refused before anything starts, saying what to do.
    other = subprocess.run(
        [sys.executable, "-m", "simplefailover", "demo", "--state-dir", str(state_dir),
         "--addresses", "127.0.0.160,127.0.0.161,127.0.0.163", "--free-ports", "--fast"],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert other.returncode == 1
    assert "made for other addresses or ports" in other.stderr and "--fresh" in other.stderr
    assert processes_under(state_dir) == {}
    assert json.loads((state_dir / "ports.json").read_text())["addresses"] == ADDRESSES  # still usable
