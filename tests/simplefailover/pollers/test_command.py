"""The command poller with real programs: slow, failing, flooding, and what they are given."""

from __future__ import annotations

import resource
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from simplefailover.config import CommandPolling, Node
from simplefailover.pollers import CommandPoller
from tests.support.bind import wait_until

NODE = Node(id="node7", address="127.0.23.20")


def running(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def command(cmd: Any, **extra: Any) -> CommandPolling:
    return CommandPolling.model_validate({"id": "cmd", "method": "command", "command": cmd, **extra})


def test_exit_0_is_ok_and_gets_the_node(tmp_path: Path) -> None:
    out = tmp_path / "seen"
    prog = script(
        tmp_path,
        "ok.py",
        f"""
        import os, sys
        env = [os.environ[k] for k in ("SF_NODE_ADDRESS", "SF_NODE_ID", "SF_POLLING_ID")]
        open({str(out)!r}, "w").write(repr((sys.argv[1:], env)))
        print("OK - fine")
        """,
    )
    result = CommandPoller(command([prog, "--host", "{address}", "{id}", "{polling}", "{x}"])).check(NODE)
    assert result.ok and result.error == ""
    argv, env = eval(out.read_text())
    assert argv == ["--host", "127.0.23.20", "node7", "cmd", "{x}"]
    assert env == ["127.0.23.20", "node7", "cmd"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1, "WARNING (exit 1): DISK WARNING - 10% free"),
        (2, "CRITICAL (exit 2): DISK WARNING - 10% free"),
        (3, "UNKNOWN (exit 3): DISK WARNING - 10% free"),
        (4, "exit 4: DISK WARNING - 10% free"),
    ],
)
def test_nagios_codes_are_ko_with_the_first_line(tmp_path: Path, code: int, expected: str) -> None:
    prog = script(
        tmp_path,
        "fail.py",
        f"""
        import sys
        print()
        print("DISK WARNING - 10% free | /=90%;80;90")
        print("second line")
        sys.exit({code})
        """,
    )
    result = CommandPoller(command([prog])).check(NODE)
    assert not result.ok
    assert result.error == expected


def test_slow_program_is_killed_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    prog = script(
        tmp_path,
        "slow.py",
        f"""
        import os, subprocess, sys, time
        child = subprocess.Popen(["sleep", "60"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        print("started", flush=True)
        time.sleep(60)
        """,
    )
    result = CommandPoller(command([prog], timeout=1.5)).check(NODE)
    assert not result.ok
    assert result.error == "timed out after 1.5s, killed (started)"
    started = [int(pid) for pid in pids.read_text().split()]
    wait_until(lambda: not any(map(running, started)), 10, "the program and its child to be killed")


def test_a_background_child_holding_the_output_does_not_hold_the_check(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    prog = script(
        tmp_path,
        "daemonizes.py",
        f"""
        import subprocess
        child = subprocess.Popen(["sleep", "60"])  # inherits stdout
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("OK - left a child")
        """,
    )
    result = CommandPoller(command([prog], timeout=30)).check(NODE)
    assert result.ok, result.error  # ended by the exit, not by the timeout (that would be KO)
    pid = int(pid_file.read_text())
    wait_until(lambda: not running(pid), 10, "the left-over child to be killed")


def test_output_flood_is_bounded(tmp_path: Path) -> None:
    """A program writing without end: the check ends at its timeout, memory stays flat."""
    prog = script(
        tmp_path,
        "flood.py",
        """
        import sys
        line = b"x" * 1023 + b"\\n"
        while True:
            sys.stdout.buffer.write(line)
        """,
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = CommandPoller(command([prog], timeout=1.5)).check(NODE)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert not result.ok
    assert result.error.startswith("timed out after 1.5s, killed (xxxx")
    assert len(result.error) < 300
    assert grown_kib < 50_000, f"max RSS grew by {grown_kib} KiB"


def test_flood_then_exit_is_judged_by_the_exit_code(tmp_path: Path) -> None:
    prog = script(
        tmp_path,
        "burst.py",
        """
        import sys
        sys.stdout.write("CRITICAL - burst\\n" + "y" * 5_000_000)
        sys.exit(2)
        """,
    )
    result = CommandPoller(command([prog], timeout=20)).check(NODE)
    assert result.error == "CRITICAL (exit 2): CRITICAL - burst"


def test_no_shell_unless_asked(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    plain = CommandPoller(command(f"echo hi; touch {marker}")).check(NODE)
    assert plain.ok and not marker.exists()  # echo printed the ';' and the rest: no shell ran
    shell = CommandPoller(command(f"test {{address}} = 127.0.23.20 && touch {marker}", shell=True)).check(
        NODE
    )
    assert shell.ok and marker.exists()


def test_missing_program_is_a_result() -> None:
    result = CommandPoller(command(["/nonexistent/check_thing"])).check(NODE)
    assert not result.ok
    assert result.error == "cannot run /nonexistent/check_thing: No such file or directory"


def test_killed_by_a_signal(tmp_path: Path) -> None:
    prog = script(tmp_path, "kill.py", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert CommandPoller(command([prog])).check(NODE).error == "killed by signal SIGSEGV"
