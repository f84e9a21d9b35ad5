"""A private PostgreSQL for the test session, on 127.0.0.140 and a free port.

PostgreSQL refuses to run as root, so when the tests run as root, initdb and pg_ctl run as
the `postgres` user (runuser) on a data folder it owns. The Unix socket is in that folder,
where the fixture connects as the superuser `postgres` (trust); TCP on 127.0.0.140 asks
for a password (scram-sha-256), so the tests use a real password in the DSN and in a
passfile. The binaries come from the Debian package `postgresql` (`make test` installs it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from .nodes import free_port

HOST = "127.0.0.140"
USER = "ha"
PASSWORD = "Pw-zebra-4417-not-for-logs"  # tests assert this text appears in no log or status
SETTINGS = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]


def find_bin() -> Path:
    """The folder of initdb and pg_ctl: the newest /usr/lib/postgresql/<ver>/bin, else PATH."""

    def version(path: Path) -> int:
        found = re.search(r"/postgresql/(\d+)/bin", str(path))
        return int(found.group(1)) if found else 0

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=version)
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/<version>/bin "
        "nor on PATH: install the Debian package postgresql (make system-deps does)"
    )


def children(pid: int) -> list[int]:
    """The processes whose parent is pid (a postmaster's backends and workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


@dataclass
class Postgres:
    """One private PostgreSQL server: start, stop, admin SQL, DSNs for the tests."""

    folder: Path
    bindir: Path
    port: int
    as_postgres: bool  # running as root: run the server binaries as the postgres user

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, cwd=self.folder, capture_output=True, text=True, timeout=60)
        if done.returncode:
            log = (self.folder / "server.log").read_text() if (self.folder / "server.log").exists() else ""
            output = done.stderr + done.stdout
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {output}\n{log}")

    def init(self) -> None:
        """Create the cluster's data folder."""
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = " ".join([f"-c listen_addresses={HOST}", f"-p {self.port}", f"-k {self.folder}", *SETTINGS])
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "30",
                  "-o", options, "start")  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast: connections are closed, as in a real outage)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP the server and its backends (hung, but the kernel still answers TCP); SIGCONT after."""
        main = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [main, *children(main)]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def running(self) -> bool:
        """Whether the server's pid file is there."""
        return (self.data / "postmaster.pid").exists()

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        """Run SQL as the superuser over the Unix socket."""
        with psycopg.connect(
            host=str(self.folder), port=self.port, user="postgres", dbname=dbname, autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def new_database(self, name: str, owner: str = USER) -> str:
        """A fresh database (owned by the test user unless told); return its name."""
        self.admin(f'DROP DATABASE IF EXISTS "{name}"')
        self.admin(f'CREATE DATABASE "{name}" OWNER {owner}')
        return name

    def dsn(self, dbname: str, password: bool = True) -> str:
        """A key=value DSN over TCP on HOST (with the password, or without for a passfile)."""
        text = f"host={HOST} port={self.port} dbname={dbname} user={USER} connect_timeout=2"
        return f"{text} password={PASSWORD}" if password else text

    def passfile(self, path: Path, dbname: str) -> Path:
        """Write a pgpass file (mode 0600) with the test user's password."""
        path.write_text(f"{HOST}:{self.port}:{dbname}:{USER}:{PASSWORD}\n")
        path.chmod(0o600)
        return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the session, with the user `ha`; stopped and deleted at the end."""
    bindir = find_bin()  # raises with the reason: a test that cannot run fails, never skips
    as_postgres = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="sfpg"))  # short: a Unix socket path is at most 107 bytes
    if as_postgres:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, PostgreSQL needs the user postgres to run as, and there is none: "
                "install the Debian package postgresql (it creates it)"
            ) from None
        os.chown(folder, user.pw_uid, user.pw_gid)
    server = Postgres(folder, bindir, free_port(HOST), as_postgres)
    try:
        server.init()
        server.start()
        server.admin(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
