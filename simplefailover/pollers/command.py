"""The command poller: run a program per node, Nagios style; exit 0 is OK, anything else KO.

Exit 3 (Nagios UNKNOWN) counts as KO as well: a check that cannot vouch for a node must
not keep traffic on it. The program runs in its own session (process group), never through a
shell unless `shell: true`; at the timeout the whole group is killed, and so is anything
the program left running once it exits. Output is read as it comes (a program filling
the pipe never blocks) but only the first MAX_OUTPUT bytes are kept.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time

from ..config import CommandPolling, Node
from .result import PollResult

MAX_OUTPUT = 4096  # bytes of output kept; the rest is read and dropped
MAX_DETAIL = 200  # characters of the first line shown as the detail
NAGIOS = {1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


class CommandPoller:
    """Checks one command polling against any node; never raises for a down node."""

    def __init__(self, polling: CommandPolling) -> None:
        self.polling = polling

    def check(self, node: Node) -> PollResult:
        """Run the command for node and return the verdict."""
        polling = self.polling
        values = {"address": str(node.address), "id": node.id, "polling": polling.id}
        env = {
            **os.environ,
            "SF_NODE_ADDRESS": values["address"],
            "SF_NODE_ID": node.id,
            "SF_POLLING_ID": polling.id,
        }
        argv = polling.argv(values)
        start = time.monotonic()
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, killed as a whole
                close_fds=True,
            )
        except OSError as exc:
            error = f"cannot run {argv[0]}: {exc.strerror or exc}"
            return PollResult(False, time.monotonic() - start, error, time.time())
        try:
            output, timed_out = _collect(process, start + polling.timeout)
        finally:
            _kill_group(process)
            process.wait()
            assert process.stdout is not None
            process.stdout.close()
        line = first_line(output)
        if timed_out:
            error = f"timed out after {polling.timeout:g}s, killed" + (f" ({line})" if line else "")
        elif process.returncode == 0:
            error = ""
        else:
            error = describe_exit(process.returncode, line)
        return PollResult(not error, time.monotonic() - start, error, time.time())


def _collect(process: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bool]:
    """Read output until the program has exited and said all, or the deadline: (kept, timed out)."""
    assert process.stdout is not None
    pipe = process.stdout.fileno()
    kept = bytearray()

    def read() -> bool:
        chunk = os.read(pipe, 65536)
        if chunk and len(kept) < MAX_OUTPUT:
            kept.extend(chunk[: MAX_OUTPUT - len(kept)])
        return bool(chunk)

    with selectors.DefaultSelector() as selector:
        selector.register(pipe, selectors.EVENT_READ, "out")
        pidfd = _watch_exit(selector, process.pid)
        try:
            while not _gone(process.pid):
                left = deadline - time.monotonic()
                if left <= 0:
                    return bytes(kept), True
                # Without a pidfd the exit is noticed by looking a few times a second.
                for key, _ in selector.select(left if pidfd is not None else min(left, 0.2)):
                    if key.data == "exit":
                        selector.unregister(key.fileobj)
                    elif not read():
                        selector.unregister(pipe)
            # Exited: take what is already in the pipe; a child it left behind may hold the
            # pipe open forever, so do not wait for the end of it.
            for _ in range(64):
                if pipe not in selector.get_map() or not selector.select(0) or not read():
                    break
        finally:
            if pidfd is not None:
                os.close(pidfd)
    return bytes(kept), False


def _watch_exit(selector: selectors.BaseSelector, pid: int) -> int | None:
    """A pidfd that turns readable when the process exits (Linux 5.3+); None where there is none."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
    selector.register(fd, selectors.EVENT_READ, "exit")
    return fd


def _gone(pid: int) -> bool:
    """Whether the process has exited, without reaping it: its group id stays reserved until wait()."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the program's whole process group: the program itself and whatever it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def first_line(output: bytes) -> str:
    """The first non-empty line of output, without Nagios performance data, shortened."""
    for raw in output.decode("utf-8", "replace").splitlines():
        line = raw.split("|", 1)[0].strip()
        if line:
            return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 3] + "..."
    return ""


def describe_exit(code: int, line: str) -> str:
    """Why a non-zero exit is KO, as people read it."""
    if code < 0:
        what = (
            f"killed by signal {signal.Signals(-code).name}" if -code in signal.valid_signals() else "killed"
        )
    elif code in NAGIOS:
        what = f"{NAGIOS[code]} (exit {code})"
    elif code == 127:
        what = "exit 127 (command not found)"
    elif code == 126:
        what = "exit 126 (not executable)"
    else:
        what = f"exit {code}"
    return f"{what}: {line}" if line else what
