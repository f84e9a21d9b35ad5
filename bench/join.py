"""clustersync join speed (goal: >= 200 MB/s end to end on loopback; the vendor: 16 min per GB).

1. A member (`clustersync run` on 127.0.0.125) holds a database of --mb MB: 200-byte rows,
   and with --mix every 50th row also carries a 32 KB blob; rows are written by SQL, then
   `clustersync create` versions them (so _cs_rows holds a JSON copy of each, as in use).
2. A fresh node (127.0.0.126) runs `clustersync join` as a subprocess; the figure is the
   snapshot's bytes over the wall time from starting the command to its exit (joined:
   verified, swapped in, capture installed). The joiner's content is then compared.
3. Peer in the same run: the old join (a full copy of every row version as JSON batches
   over an authenticated channel, applied in one transaction, clustersync before this
   issue) on the same database, in one process (socket pair: no process start, optimistic).
CPU seconds per GB of both sides are printed too: unlike wall time they do not depend on
what else the machine runs.

Run: .venv/bin/python -m bench.join [--mb 1024] [--mix] [--no-old] [--repeat 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from clustersync.store import rowstate
from clustersync.store.database import Change, Store
from clustersync.store.schema import quote
from clustersync.wire.protocol import Channel
from tests.clustersync.conftest import content, make_db
from tests.clustersync.nodes import NodeDir, make_nodes

ROOT = Path(__file__).resolve().parents[1]
ROW_BYTES = 2.1e3  # file bytes per row with --mix (row + JSON copy), measured
ROW_BYTES_PLAIN = 0.6e3


def build(node: NodeDir, mb: float, mix: bool) -> int:
    """Fill the member's items table by SQL up to about mb MB once versioned; return rows."""
    rows = int(mb * 1e6 / (ROW_BYTES if mix else ROW_BYTES_PLAIN))
    blob = "CASE WHEN i % 50 = 0 THEN randomblob(32768) END" if mix else "NULL"
    db = sqlite3.connect(node.db)
    with db:
        db.execute(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "
            f"INSERT INTO items (id, v, n, b) SELECT i, hex(randomblob(100)), i * 0.5, {blob} FROM c",
            (rows,),
        )
    db.close()
    _cli(node, "create")
    return rows


def _cli(node: NodeDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clustersync", *args, "-c", str(node.config)],
        capture_output=True, text=True, cwd=ROOT, timeout=1800, check=True,
    )  # fmt: skip


def size_of(path: Path) -> int:
    """A database's bytes, WAL included."""
    wal = Path(str(path) + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def new_join(member: NodeDir, joiner: NodeDir) -> dict[str, float]:
    """Time `clustersync join` end to end; seconds, snapshot bytes, CPU of both sides."""
    assert member.proc is not None
    member_cpu = _cpu_of(member.proc.pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = _cli(joiner, "join", "--peer", member.peer)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert "joined through" in result.stdout, result.stdout + result.stderr
    print(result.stdout.strip().splitlines()[-2], flush=True)
    return {
        "new_s": seconds,
        "snapshot_mb": joiner.db.stat().st_size / 1e6,
        "joiner_cpu": after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime,
        "member_cpu": _cpu_of(member.proc.pid) - member_cpu,
    }


def _replace_all(dst: Store, changes: list[Change], vector: dict[str, int]) -> None:
    """The old join's install: every replicated table emptied and refilled in one transaction."""
    with dst._write() as db:
        db.execute("UPDATE _cs_flag SET applying = 1")
        for name in [*dst.tables, "_cs_rows", "_cs_vector", "_cs_pending", "_cs_known"]:
            db.execute(f"DELETE FROM {quote(name)}")
        for c in changes:
            if not c.deleted:
                dst._write_row(db, dst.tables[c.tbl], c)
            rowstate.put(db, c)
        db.executemany("INSERT INTO _cs_vector (origin, hlc) VALUES (?, ?)", vector.items())
        db.execute("UPDATE _cs_flag SET applying = 0")


def old_join(member: Path, joiner: Path) -> float:
    """The join before this issue, in one process over a socket pair: seconds for the whole copy."""
    src, dst = Store(member, "n1", ["items", "pairs"]), Store(joiner, "n2", ["items", "pairs"])
    a, b = socket.socketpair()
    key = b"k" * 32
    sender, receiver = Channel(a, key, True, 1 << 26), Channel(b, key, False, 1 << 26)

    def serve() -> None:
        with src.snapshot() as snap:
            sender.send({"type": "copy", "vector": snap.vector})
            for batch in snap.batches({}, 2000):
                sender.send({"type": "batch", "changes": [c.wire() for c in batch]})
            sender.send({"type": "done", "vector": snap.vector})

    started = time.perf_counter()
    thread = threading.Thread(target=serve)
    thread.start()
    receiver.expect("copy")
    changes: list[Change] = []
    while (message := receiver.expect("batch", "done"))["type"] == "batch":
        changes.extend(Change.from_wire(item) for item in message["changes"])
    _replace_all(dst, changes, message["vector"])
    seconds = time.perf_counter() - started
    thread.join()
    for each in (src, dst, a, b):
        each.close()
    return seconds


def scenario(
    folder: Path, addresses: list[str], mb: float, mix: bool, old: bool, repeat: int
) -> dict[str, float]:
    """Build a member of mb MB, join a node to it (and run the old join on the same database)."""
    member, joiner = make_nodes(folder, addresses)
    rows = build(member, mb, mix)
    db_bytes = size_of(member.db)
    out: dict[str, float] = {"rows": rows, "db_mb": db_bytes / 1e6}
    if old:
        copy = folder / "old-joiner.db"
        copy.write_bytes(joiner.db.read_bytes())
        seconds = old_join(member.db, copy)
        out["old_s"], out["old_mbps"] = seconds, db_bytes / 1e6 / seconds
        copy.unlink()
    member.start()
    try:
        runs = []
        for _ in range(repeat):
            for path in joiner.folder.glob("app.db*"):
                path.unlink()
            make_db(joiner.db)  # a fresh node each time (same id and address: admitted again)
            runs.append(new_join(member, joiner))
        out |= min(runs, key=lambda r: r["new_s"])
        out["median_s"] = statistics.median(r["new_s"] for r in runs)
        out["new_mbps"] = out["snapshot_mb"] / out["new_s"]
        out["same"] = float(content(joiner.db) == content(member.db))
    finally:
        member.kill()
    return out


def main() -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--mb", type=float, default=1024, help="member database size, MB")
    parser.add_argument("--no-old", action="store_true", help="skip the old full-copy join (minutes at 1 GB)")
    parser.add_argument("--mix", action="store_true", help="every 50th row carries a 32 KB blob")
    parser.add_argument("--repeat", type=int, default=3, help="joins of a fresh node (best and median)")
    parser.add_argument("--dir", default=None, help="where to put the databases (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-join-", dir=args.dir) as tmp:
        r = scenario(
            Path(tmp), ["127.0.0.125", "127.0.0.126"], args.mb, args.mix, not args.no_old, args.repeat
        )
    kind = "200-byte rows and 32 KB blobs" if args.mix else "200-byte rows"
    vendor = 16 * 60 * r["snapshot_mb"] / 1000
    print(
        f"streamed join of a {r['db_mb']:.0f} MB database ({r['rows']:.0f} rows, {kind}): "
        f"best of {args.repeat}: {r['new_s']:.2f} s end to end, **{r['new_mbps']:.0f} MB/s** "
        f"(median {r['median_s']:.2f} s); content identical: {bool(r['same'])}"
    )
    print(
        f"CPU per GB: joiner {r['joiner_cpu'] / r['snapshot_mb'] * 1000:.2f} s, "
        f"member {r['member_cpu'] / r['snapshot_mb'] * 1000:.2f} s; load average {os.getloadavg()[0]:.1f}"
    )
    if "old_s" in r:
        print(
            f"old full-copy join, same database, in one process: {r['old_s']:.1f} s "
            f"({r['old_mbps']:.1f} MB/s): the streamed join is {r['old_s'] / r['new_s']:.1f}x faster"
        )
    print(f"vendor at 16 min/GB: {vendor:.0f} s, {vendor / r['new_s']:.0f}x slower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
