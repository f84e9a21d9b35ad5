"""The 20-second chaos drill (`make chaos` runs 2 minutes): it must pass and leave nothing behind.

On 127.0.0.163-165 with free ports, apart from the demo test (127.0.0.160-162) and `make chaos`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[3]


def processes_under(folder: Path) -> list[int]:
    """Pids of live, non-zombie processes whose command line mentions folder."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            zombie = "zombie" in (entry / "status").read_text()
        except OSError:
            continue
        if str(folder) in cmdline and not zombie:
            pids.append(int(entry.name))
    return pids


def test_a_short_chaos_drill_passes(tmp_path: Path) -> None:
    state = tmp_path / "chaos"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "simplefailover.chaos", "--seconds", "20", "--state-dir", str(state),
             "--addresses", "127.0.0.163,127.0.0.164,127.0.0.165"],
            cwd=ROOT, capture_output=True, text=True, timeout=130,
        )  # fmt: skip
    finally:
        left = processes_under(state)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    report = done.stdout + done.stderr
    logs = "\n".join(
        f"--- {p}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-10:])
        for p in sorted(state.glob("node*/logs/*.log"))
    )
    assert done.returncode == 0 and "result: PASS" in done.stdout, f"{report}\n{logs}"
    assert left == [], "processes left behind"
    # The summary carries the figures the lead asks for.
    for heading in ("writes:", "faults:", "worst detection:", "worst convergence", "detection bound:"):
        assert heading in done.stdout
    # The scripted faults ran: two nodes die (the last answers itself), two nodes cut from each other.
    assert "scenario: two nodes die: node1 then node2 killed whole" in done.stdout
    assert "scenario: two nodes cut from each other: node1 | node2" in done.stdout
    acknowledged = int(done.stdout.split("writes: ")[1].split()[0])
    assert acknowledged > 50  # the writers really wrote during the faults
