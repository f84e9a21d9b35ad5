"""Short chaos drills (`make chaos` runs 5 minutes): they must pass and leave nothing behind.

The loopback drill on 127.0.0.163-165 with free ports, apart from the demo test (127.0.0.160-162);
the network drill in namespaces sf20-* on 198.18.20.0/24 (root and `ip` needed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simplefailover.chaos.netbed import missing, namespaces, root_links

from .conftest import BED_WAIT

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
    """10 s: one 8 s window of random faults (no time left for a second), then the scripted faults."""
    state = tmp_path / "chaos"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "simplefailover.chaos", "--bed", "loopback", "--seconds", "10",
             "--state-dir", str(state), "--addresses", "127.0.0.163,127.0.0.164,127.0.0.165"],
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
    summary_figures(done.stdout)  # the figures the lead asks for
    # The scripted faults ran: two nodes die (the last answers itself), two nodes cut from each other.
    assert "scenario: two nodes die: node1 then node2 killed whole" in done.stdout
    assert "scenario: two nodes cut from each other: node1 | node2" in done.stdout
    acknowledged = int(done.stdout.split("writes: ")[1].split()[0])
    assert acknowledged > 50  # the writers really wrote during the faults


# Seed 20's 30 s: a partition (node2 | node1, node3) with node2's app killed on the lone side,
# link flapping, with the process faults. It failed before the verdict set all-down answers
# aside: node2, alone, sees every node KO and answers every node (when_all_down: all), which
# names no node in particular (docs/operations.md, "Chaos drill").
SHORT_SEED = 20


def summary_figures(stdout: str) -> None:
    for heading in ("writes:", "faults:", "worst detection:", "worst convergence", "detection bound:"):
        assert heading in stdout


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
@pytest.mark.usefixtures("bed_to_ourselves")
@pytest.mark.timeout(150 + BED_WAIT)  # waiting for the bed included
def test_a_short_network_drill_passes_and_tears_its_bed_down(tmp_path: Path) -> None:
    state = tmp_path / "chaos-net"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "simplefailover.chaos", "--seconds", "30", "--seed", str(SHORT_SEED),
             "--state-dir", str(state)],
            cwd=ROOT, capture_output=True, text=True, timeout=140,
        )  # fmt: skip
    finally:
        left = processes_under(state)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert done.returncode == 0 and "result: PASS" in done.stdout, done.stdout + done.stderr
    assert left == [] and namespaces() == [] and root_links() == [], "the bed left something behind"
    summary_figures(done.stdout)
    assert "network faults:" in done.stdout and "installed product venv-" in done.stdout
    verdict = json.loads((state / "verdict.json").read_text())
    assert verdict["result"] == "PASS" and verdict["seed"] == SHORT_SEED
    assert verdict["writes"]["acknowledged"] > 50 and verdict["writes"]["lost"] == 0
    assert sum(verdict["network_faults"].values()) >= 2  # the seed's 30 s get three network faults


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
@pytest.mark.usefixtures("bed_to_ourselves")
@pytest.mark.timeout(150 + BED_WAIT)  # waiting for the bed included
def test_an_interrupted_network_drill_tears_its_bed_down(tmp_path: Path) -> None:
    state = tmp_path / "chaos-net"
    drill = subprocess.Popen(
        [sys.executable, "-m", "simplefailover.chaos", "--seconds", "60", "--state-dir", str(state)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert drill.stdout is not None
        for line in drill.stdout:  # the nodes run in their namespaces once the faults begin
            if line.startswith("running "):
                break
        assert len(namespaces()) == 4
        drill.send_signal(signal.SIGINT)
        rest = drill.communicate(timeout=60)[0]
    finally:
        if drill.poll() is None:
            drill.kill()
            drill.wait()
    assert "interrupted" in rest
    assert processes_under(state) == [] and namespaces() == [] and root_links() == []
