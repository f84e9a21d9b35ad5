"""`python -m simplefailover.chaos`: the chaos drill against a demo cluster of its own.

Writers on every node, kill -9, SIGSTOP/SIGCONT and restarts of every process, clock offsets,
all bounded in count and time; then two scripted faults (two nodes die; two nodes cut from
each other), then checks and a summary. With --bed net (the default) the nodes are network
namespaces running the installed product and network faults join in (the scripted two are
the loopback bed's); --bed loopback runs the nodes on loopback addresses of this host.
Exit status 0 when it passed.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ..demo.cluster import DemoCluster, free_layout
from ..demo.layout import FAST, MAX_CLOCK_OFFSET
from ..demo.mailsink import MailSink
from .drill import SLACK, Drill
from .netrun import run_net
from .plan import KINDS
from .verdict import silent

ADDRESSES = "127.0.0.170,127.0.0.171,127.0.0.172"


def summary(drill: Drill, passed: bool, elapsed: float, mails: int) -> str:
    """The closing report: writes, faults, detection, convergence, verdict."""
    record, timing = drill.record, drill.cluster.layout.timing
    by_node: dict[str, int] = {}
    for node in record.acked.values():
        by_node[node] = by_node.get(node, 0) + 1
    faults = ", ".join(f"{kind} {record.faults[kind]}" for kind in KINDS if record.faults[kind])
    if record.offsets:
        beyond = sum(1 for o in record.offsets if abs(o) > MAX_CLOCK_OFFSET)
        faults += (
            f"; clock offsets {', '.join(f'{o:+.1f} s' for o in record.offsets)}"
            f" ({beyond} beyond max_clock_offset {MAX_CLOCK_OFFSET:g} s: sessions refused until healed)"
        )
    worst = drill.verdict.worst
    undetected = sum(1 for _, d in drill.verdict.detections if d is None)
    died = sum(1 for p in record.problems if "exited by itself" in p)
    answered = sum(1 for s in record.samples if s.answer is not None)
    gaps = [span for span in record.spans if span.kind.startswith("simplefailover")]
    silent_down, silent_up = silent(record.samples, gaps, restart=drill.bound)
    lines = [
        f"chaos drill: {drill.seconds:g} s of fault windows and settles (seed {drill.seed}),"
        f" {elapsed:.0f} s with start and stop,"
        f" nodes {', '.join(f'{n.node_id} {n.address}' for n in drill.cluster.layout.nodes)}",
        f"writes: {len(record.acked)} acknowledged"
        f" ({', '.join(f'{n} {c}' for n, c in sorted(by_node.items()))}), {record.failed_writes} refused or"
        " timed out; every acknowledged write checked on every node",
        f"faults: {sum(record.faults.values())} ({faults or 'none'})",
        f"bad input: {sum(record.garbage.values())} messages of random bytes, huge lengths, cut frames and"
        f" long lines to DNS, peers, clustersync, dashboards and apps"
        f" ({'no process exited by itself' if not died else f'{died} processes exited by themselves'})",
        f"detection bound: {drill.bound:.1f} s = interval {timing.interval:g} + fall {timing.fall} x"
        f" (timeout {timing.timeout:g} + retry {timing.retry_interval:g})"
        f" + 2 x heartbeat {timing.heartbeat:g} + {SLACK:g} slack",
        "worst detection: "
        + (f"{worst[1]:.1f} s ({worst[0].node} {worst[0].kind})" if worst else "none measured")
        + f"; {len(drill.verdict.detections) - undetected} app faults detected,"
        f" {undetected} healed before detection",
        f"alert mails received by the drill's SMTP sink: {mails}",
        f"DNS samples: {len(record.samples)} ({answered} answered; of the others {silent_down} while that"
        f" instance was down or restarting, {silent_up} from a running instance);"
        f" answers pointing at a node down longer than the bound: {len(drill.verdict.violations)}",
        *(f"scenario: {text}" for text in record.scenarios),
        f"settles: {len(record.settles)}, every instance gave the same answer after each;"
        f" worst convergence {max(record.settles, default=0):.1f} s (faults healed -> all instances"
        " agree and all nodes' tables identical with every acknowledged write)",
    ]
    for problem in record.problems[:20]:
        lines.append(f"  problem: {problem}")
    lines.append(f"result: {'PASS' if passed else 'FAIL'}")
    return "\n".join(lines)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Start a demo cluster, run the drill, print the summary; 0 when it passed."""
    parser = argparse.ArgumentParser(prog="python -m simplefailover.chaos", description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=300, help="time of fault windows and settles (default 300)"
    )
    parser.add_argument(
        "--bed", choices=("net", "loopback"), default="net", help="namespaces (default) or loopback"
    )
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the network bed (default 3)")
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="the source tree whose wheel the network bed installs (default: this checkout)",
    )
    parser.add_argument(
        "--strict-partitions",
        action="store_true",
        help="fail when a side of a partition names a node across it after the detection bound"
        " (default: reported; a cut-off minority keeps the last agreed answers, docs/agreement.md)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    parser.add_argument(
        "--addresses", default=ADDRESSES, help="--bed loopback: three loopback addresses, comma-separated"
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the state dir (logs) even when it passed")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every fault")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)  # the terminal closed: tear down all the same
    if args.bed == "net":
        return run_net(args, seed)
    addresses = [a.strip() for a in args.addresses.split(",") if a.strip()]
    if len(addresses) != 3 or not all(a.startswith("127.") for a in addresses):
        print(f"--addresses: three 127.x.y.z addresses, got {args.addresses!r}", file=sys.stderr)
        return 2
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="chaos-"))
    cluster = DemoCluster(free_layout(state_dir.resolve(), addresses, FAST))
    mails: list[str] = []
    sink = MailSink(*cluster.layout.mail, show=mails.append)
    started = time.monotonic()
    passed = sink_started = False
    try:
        sink.start()
        sink_started = True
        print(f"chaos drill: starting the cluster in {state_dir} ...", flush=True)
        cluster.start()
        drill = Drill(cluster, args.seconds, seed)
        print(f"running {args.seconds:g} s of fault windows and settles (seed {seed}) ...", flush=True)
        passed = drill.run()
        print(summary(drill, passed, time.monotonic() - started, len(mails)), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"chaos drill: {exc}", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cluster.stop()
        if sink_started:
            sink.stop()
    if passed and not args.keep and args.state_dir is None:
        shutil.rmtree(state_dir, ignore_errors=True)
    else:
        print(f"logs and databases kept in {state_dir}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
