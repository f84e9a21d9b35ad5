"""A bulk load replicated end to end by real `clustersync run` processes, as deployed.

N members (default 2, the usual cluster) on 127.0.19.1..N, each its own `clustersync run`
process started with the given command (default: the `clustersync` console script next
to this Python, i.e. an installed wheel; `--command "python -m clustersync"` for a
checkout), production settings except the addresses and ports. The application writes
--rows rows of 200 bytes on the first member, --per-commit rows per transaction, as fast
as SQLite takes them; then the time until every member has every row, and the rate.
Everything it starts is stopped at the end, also on failure; bounded by --limit seconds.

Run: .venv/bin/python -m bench.bulk_load [--nodes 2] [--rows 200000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from habase.ports import free_port  # outside the ephemeral range: no other socket takes it meanwhile

ITEMS = "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"


def _listening(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _count(path: Path) -> int:
    db = sqlite3.connect(path, timeout=30)
    try:
        return int(db.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        db.close()


class Member:
    def __init__(self, folder: Path, i: int, command: list[str]) -> None:
        self.address = f"127.0.19.{i}"
        self.folder = folder / f"n{i}"
        self.folder.mkdir()
        self.db = self.folder / "app.db"
        self.port, self.data_port = free_port([self.address]), free_port([self.address])
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        db = sqlite3.connect(self.db)
        db.execute(ITEMS)
        db.commit()
        db.close()
        self.config = self.folder / "config.yaml"
        self.config.write_text(
            "cluster:\n"
            f"  node_id: n{i}\n"
            f'  address: "{self.address}"\n'
            f"  port: {self.port}\n"
            f"  data_port: {self.data_port}\n"
            "  secret_file: ../cluster.secret\n"
            "  database: app.db\n"
            "  tables: {replicated: [items]}\n"
            "  state_dir: state\n"
        )

    def cli(self, *args: str) -> None:
        subprocess.run(
            [*self.command, *args, "-c", str(self.config)], check=True, capture_output=True, timeout=60
        )

    def start(self) -> None:
        log = (self.folder / "run.log").open("ab")
        self.proc = subprocess.Popen([*self.command, "run", "-c", str(self.config)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while not _listening(self.address, self.data_port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{self.address}: clustersync run did not start: {self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return (self.folder / "run.log").read_text(errors="replace")[-2000:]


@contextlib.contextmanager
def cluster(folder: Path, nodes: int, command: list[str]) -> Iterator[list[Member]]:
    members = [Member(folder, i + 1, command) for i in range(nodes)]
    try:
        members[0].cli("create")
        members[0].start()
        for m in members[1:]:
            m.cli("join", "--peer", f"{members[0].address}:{members[0].port}")
            m.start()
        yield members
    finally:
        for m in members:
            m.stop()


def load(members: list[Member], rows: int, per_commit: int, limit: float) -> dict[str, float]:
    """Write the rows on the first member; seconds until each member has them all."""
    db = sqlite3.connect(members[0].db, timeout=30)
    start = time.perf_counter()
    for first in range(0, rows, per_commit):
        with db:
            db.executemany(
                "INSERT INTO items (id, v) VALUES (?, ?)",
                ((i, f"{i:010d}" + "x" * 190) for i in range(first, min(rows, first + per_commit))),
            )
    written = time.perf_counter() - start
    db.close()
    done: dict[str, float] = {}
    deadline = start + limit
    while len(done) < len(members) - 1 and time.perf_counter() < deadline:
        for m in members[1:]:
            if m.address not in done and _count(m.db) >= rows:
                done[m.address] = time.perf_counter() - start
        time.sleep(0.05)
    if len(done) < len(members) - 1:
        late = [m.address for m in members[1:] if m.address not in done]
        raise RuntimeError(f"not every row on {late} after {limit:g} s")
    last = max(done.values())
    return {"write_s": written, "last_s": last, "rows_per_s": rows / last}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--per-commit", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=300)
    default = str(Path(sys.executable).with_name("clustersync"))
    parser.add_argument("--command", default=default, help="how to run clustersync (default: %(default)s)")
    args = parser.parse_args()
    command = shlex.split(args.command)
    with tempfile.TemporaryDirectory(prefix="cs-bulk-") as tmp:
        folder = Path(tmp)
        (folder / "cluster.secret").write_text(os.urandom(32).hex() + "\n")
        (folder / "cluster.secret").chmod(0o600)
        with cluster(folder, args.nodes, command) as members:
            out = load(members, args.rows, args.per_commit, args.limit)
    print(
        f"bulk load on {args.nodes} members ({args.command}): {args.rows:,} rows of 200 bytes written in "
        f"{out['write_s']:.2f} s on one member, on every member after {out['last_s']:.2f} s: "
        f"{out['rows_per_s']:,.0f} rows/s end to end (capture, send, apply)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
