"""`python -m simplefailover.chaos` on the namespace bed: build it, run the drill, tear it all down.

The installed wheel in a venv, one namespace per node on 198.18.20.11.. with the production
ports, clients and the mail sink in the root namespace on 198.18.20.254. Teardown runs on
success, failure, Ctrl-C and SIGTERM (and at exit, should anything escape that).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

from ..demo.cluster import DemoCluster
from ..demo.layout import FAST, Ports, make_layout
from ..demo.mailsink import MailSink
from ..demo.procs import Launcher, free_port
from .installed import InstallError, installed_python
from .netbed import BedError, NetBed, missing
from .netdrill import NetDrill
from .netplan import NET_KINDS
from .netverdict import describe_side
from .plan import KINDS

PRODUCTION = Ports(dns=53, dashboard=81, control=52700, data=52701, peers=52710)
VERDICT_FILE = "verdict.json"
HISTORY_FILE = "history.jsonl"  # every write: key, value (null: delete), node, times, acked, noop


def run_net(args: argparse.Namespace, seed: int) -> int:
    """Build the bed, run the drill, print the summary, save the verdict; 0 when it passed."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: one line per SMTP command
    why = missing()
    if why:
        print(f"chaos drill: {why}", file=sys.stderr)
        return 2
    if not 2 <= args.nodes <= 9:
        print("--nodes: 2 to 9", file=sys.stderr)
        return 2
    state_dir = (args.state_dir or Path(tempfile.mkdtemp(prefix="chaos-net-"))).resolve()
    node_ids = [f"node{i}" for i in range(1, args.nodes + 1)]
    bed = NetBed(node_ids)
    passed = False
    started = time.monotonic()
    cluster: DemoCluster | None = None
    sink: MailSink | None = None
    mails: list[str] = []
    try:
        print("chaos drill: building the wheel and its venv ...", flush=True)
        python = installed_python(args.source)
        bed.up()
        layout = make_layout(
            state_dir,
            [n.address for n in bed.nodes],
            [PRODUCTION] * len(node_ids),
            mail=(bed.client_address, free_port([bed.client_address])),
            timing=FAST,
        )
        layout = replace(layout, dashboard_host="127.0.0.1")
        launcher = Launcher(str(python), {n.node_id: n.namespace for n in bed.nodes}, installed=True)
        cluster = DemoCluster(layout, launcher)
        sink = MailSink(*layout.mail, show=mails.append)
        sink.start()
        print(
            f"chaos drill: {len(node_ids)} namespaces {bed.prefix}-n1.. on 198.18.20.0/24,"
            f" state in {state_dir}"
        )
        cluster.start()
        drill = NetDrill(cluster, args.seconds, seed, bed, args.strict_partitions)
        print(f"running {args.seconds:g} s of fault windows and settles (seed {seed}) ...", flush=True)
        passed = drill.run()
        text = summary(drill, passed, time.monotonic() - started, len(mails), python)
        print(text, flush=True)
        save(state_dir / VERDICT_FILE, drill, passed, seed)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except (BedError, InstallError, RuntimeError, TimeoutError, OSError) as exc:
        print(f"chaos drill: {exc}", file=sys.stderr)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C: teardown goes on
            signal.signal(signum, signal.SIG_IGN)
        if cluster is not None:
            cluster.stop()
        if sink is not None:
            sink.stop()
        bed.down()
    if passed and not args.keep and args.state_dir is None:
        shutil.rmtree(state_dir, ignore_errors=True)
    else:
        print(f"logs, databases, {VERDICT_FILE} and {HISTORY_FILE} kept in {state_dir}")
    return 0 if passed else 1


def summary(drill: NetDrill, passed: bool, elapsed: float, mails: int, python: Path) -> str:
    """The closing report of a network drill."""
    record, net, timing = drill.record, drill.net, drill.cluster.layout.timing
    ops = net.ops
    acked = [op for op in ops if op.acked]
    kinds = Counter(
        "insert" if op.key == op.value else "delete" if op.value is None else "overwrite" for op in acked
    )
    process = ", ".join(f"{k} {record.faults[k]}" for k in KINDS if record.faults[k]) or "none"
    network = ", ".join(f"{k} {net.net_faults[k]}" for k in NET_KINDS if net.net_faults[k]) or "none"
    worst = drill.verdict.worst
    undetected = sum(1 for _, d in drill.verdict.detections if d is None)
    nodes = drill.cluster.layout.nodes
    lines = [
        f"chaos drill on namespaces: {drill.seconds:g} s of fault windows and settles (seed {drill.seed}),"
        f" {elapsed:.0f} s in all; installed product {python.parent.parent.name};"
        f" nodes {', '.join(f'{n.node_id} {n.address}' for n in nodes)} (DNS 53, dashboard 81,"
        " clustersync 52700/52701, peers 52710)",
        f"writes: {len(acked)} acknowledged ({kinds['insert']} inserts, {kinds['overwrite']} overwrites of"
        f" shared keys, {kinds['delete']} deletes), {len(ops) - len(acked)} refused or timed out;"
        f" {net.data.keys} keys checked on every node against the history:"
        f" {net.data.lost} lost writes, {net.data.resurrected} resurrected deletes"
        f" ({net.data.noop_deletes} acknowledged deletes found no row on their node: no-ops, not writes)",
        f"process faults: {sum(record.faults.values())} ({process})",
        f"network faults: {sum(net.net_faults.values())} ({network})",
        f"bad input: {sum(record.garbage.values())} messages to DNS, peers, clustersync and apps",
        f"detection bound: {drill.bound:.1f} s",
        "worst detection: "
        + (f"{worst[1]:.1f} s ({worst[0].node} {worst[0].kind})" if worst else "none measured")
        + f"; {len(drill.verdict.detections) - undetected} faults (app down or node cut off) detected,"
        f" {undetected} healed before detection; answers naming a node unreachable longer than the bound:"
        f" {len(drill.verdict.violations)}",
        f"settles: {len(record.settles)}; worst convergence {max(record.settles, default=0):.1f} s;"
        f" worst spread between the first and last instance agreeing {max(net.spreads, default=0):.2f} s"
        f" (heartbeat {timing.heartbeat:g} s)",
        f"alert mails received: {mails}",
    ]
    for side in net.sides:
        part = side.partition
        lines.append(f"partition at {part.start:.0f}-{part.end:.0f} s, {describe_side(side)}")
    if net.sides:
        lines.append(
            f"answers naming a node across a partition after the bound: {len(net.crossing)}"
            + (
                ""
                if drill.strict_partitions
                else " (isolation keep_last, docs/agreement.md: reported, not judged)"
            )
        )
    for problem in record.problems[:20]:
        lines.append(f"  problem: {problem}")
    lines.append(f"result: {'PASS' if passed else 'FAIL'}")
    return "\n".join(lines)


def save(path: Path, drill: NetDrill, passed: bool, seed: int) -> None:
    """The verdict as JSON: counts, problems, partitions per side, settles."""
    net, record = drill.net, drill.record
    worst = drill.verdict.worst
    data = {
        "result": "PASS" if passed else "FAIL",
        "seed": seed,
        "seconds": drill.seconds,
        "nodes": [n.node_id for n in drill.cluster.layout.nodes],
        "writes": {
            "acknowledged": sum(op.acked for op in net.ops),
            "not_acknowledged": sum(not op.acked for op in net.ops),
            "keys_checked": net.data.keys,
            "acknowledged_deletes": net.data.acked_deletes,
            "lost": net.data.lost,
            "resurrected": net.data.resurrected,
            "noop_deletes": net.data.noop_deletes,
        },
        "process_faults": dict(record.faults),
        "network_faults": dict(net.net_faults),
        "detection_bound": drill.bound,
        "worst_detection": {"seconds": worst[1], **asdict(worst[0])} if worst else None,
        "dns_violations": drill.verdict.violations,
        "answers_across_partitions": net.crossing,
        "settles": record.settles,
        "agreement_spreads": net.spreads,
        "partitions": [
            {"start": s.partition.start, "end": s.partition.end, "side": s.side, "answers": dict(s.answers)}
            for s in net.sides
        ],
        "problems": record.problems,
    }
    path.write_text(json.dumps(data, indent=1))
    with (path.parent / HISTORY_FILE).open("w") as out:
        for op in net.ops:
            out.write(json.dumps(asdict(op)) + "\n")
