"""Both units: what each may write is computed from the config, and is what the service writes.

The services run under strace while they do what writes in production: `simplefailover run`
creates a cluster through its High Availability page, writes its pid file and, on SIGHUP,
its reload status; `clustersync run` serves a member's join (a snapshot in its state
folder), syncs, and reloads on SIGHUP. Every path either process opened for writing,
created, renamed or removed must lie inside its unit's ReadWritePaths (or what systemd gives
it anyway: RuntimeDirectory, PrivateTmp), and each ReadWritePaths entry must have been used.
install-service writes both units (systemd-analyze verify passes) and uninstall-service
leaves the file system as it found it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from simplefailover.config import load_config
from simplefailover.dashboard.login import admin_file_text
from simplefailover.ops.units import RUNTIME_DIR, Unit, clustersync_unit, failover_unit, protect_home
from tests.clustersync.conftest import make_db
from tests.support.bind import free_port, wait_until

from .dashboard.ha_nodes import ADMIN_PASSWORD, ADMIN_TOKEN, form_token, free_ports
from .test_install import SYSTEMD_ANALYZE, cli, verify

STRACE = shutil.which("strace")
N1, N2, DNS_HOST = "127.0.16.41", "127.0.16.43", "127.0.16.42"

# A successful call that writes: its quoted path arguments, relative to the process's cwd.
CALL = re.compile(r"^(\d+) +(\w+)\((.*)\) += (\d+|0x[0-9a-f]+)")
WRITES_ALWAYS = {
    "mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "link", "linkat",
    "symlink", "symlinkat", "truncate", "chmod", "fchmodat", "chown", "fchownat", "utimensat", "mknod",
}  # fmt: skip
OPENS = {"open", "openat", "creat"}
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")


def written_paths(trace: Path, cwd: Path) -> set[Path]:
    """Every path the traced processes wrote (opened for writing, created, renamed, removed...)."""
    found: set[Path] = set()
    for line in trace.read_text(errors="replace").splitlines():
        match = CALL.match(line)
        if match is None:
            continue
        name, args = match.group(2), match.group(3)
        if name in OPENS:
            if name != "creat" and not any(flag in args for flag in WRITE_FLAGS):
                continue
        elif name not in WRITES_ALWAYS:
            continue
        for raw in re.findall(r'"((?:[^"\\]|\\.)*)"', args):
            found.add(cwd / raw if not raw.startswith("/") else Path(raw))
    return found


def beyond(paths: set[Path], allowed: list[Path], private_tmp: Path) -> list[str]:
    """The written paths a unit would refuse: outside its allowed paths and what systemd gives it."""
    given = [Path("/dev"), Path("/proc"), private_tmp]  # PrivateDevices' own /dev, PrivateTmp's /tmp
    out = []
    for path in sorted(paths):
        if "__pycache__" in path.parts:
            continue  # Python skips writing bytecode to a read-only tree (ProtectSystem=strict)
        if not any(path == a or path.is_relative_to(a) for a in [*allowed, *given]):
            out.append(str(path))
    return out


def used(paths: set[Path], allowed: tuple[Path, ...]) -> set[Path]:
    return {a for a in allowed if any(p == a or p.is_relative_to(a) for p in paths)}


def config_text(root: Path, node: str, address: str, ports: dict[str, int]) -> str:
    return f"""
zone: {{name: units.example.test, nameservers: [{{name: ns1.units.example.test, address: {DNS_HOST}}}]}}
nodes: [{{id: n1, address: {N1}}}]
pollings: [{{id: sync, method: tcp, port: {ports["control"]}, timeout: 1}}]
hostnames: [{{name: www, polling: sync}}]
schedule: {{interval: 0.5, retry_interval: 0.3, jitter: 0}}
dns: {{listen: ["{DNS_HOST}:{ports["dns"]}"]}}
dashboard:
  listen: "{DNS_HOST}:{ports["dashboard"]}"
  admin_password_file: {root / "etc" / "admin.password"}
monitoring: {{notifications: false}}
cluster:
  node_id: {node}
  address: "{address}"
  port: {ports["control"]}
  data_port: {ports["data"]}
  database: {root / "data" / "app.db"}
  secret_file: {root / "secrets" / "cluster.secret"}
  state_dir: {root / "state"}
  tables: {{replicated: [items, pairs]}}
  sync_interval: 0.3
  retry_interval: 1
  timeout: 1
service: {{pid_file: {root / "run" / "sf.pid"}, watch_config: 0}}
history: {{state_dir: {root / "history"}, flush_interval: 0.2}}
"""


class Traced:
    """A service started under strace -f (only successful calls), stopped with SIGTERM."""

    def __init__(self, root: Path, name: str, *args: str) -> None:
        self.trace = root / f"{name}.trace"
        self.log = root / f"{name}.log"
        self.private_tmp = root / "private-tmp"
        self.private_tmp.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(self.private_tmp), "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(STRACE), "-f", "-qq", "-z", "-e", "trace=%file", "-o", str(self.trace),
                 sys.executable, "-m", *args],
                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def service_pid(self) -> int:
        """The traced service's pid (strace's child)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0])

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.service_pid(), signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
def node_dirs(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, int]]]:
    control, data = free_ports(N1, 2)
    ports = {
        "control": control,
        "data": data,
        "dns": free_port(DNS_HOST),
        "dashboard": free_ports(DNS_HOST, 1)[0],
    }
    roots = tmp_path / "n1", tmp_path / "n2"
    for root, node, address in ((roots[0], "n1", N1), (roots[1], "n2", N2)):
        (root / "etc").mkdir(parents=True)
        (root / "data").mkdir()
        make_db(root / "data" / "app.db")
        (root / "etc" / "admin.password").write_text(admin_file_text(ADMIN_PASSWORD, ADMIN_TOKEN))
        (root / "etc" / "config.yaml").write_text(config_text(root, node, address, ports))
    yield roots[0], roots[1], ports


def ha_post(dashboard: str, form_path: str, **form: str) -> None:
    """Send one of the High Availability page's forms, as a browser would."""
    with requests.Session() as browser:
        login = browser.get(f"http://{dashboard}/login", timeout=10)
        credentials = {"csrf_token": form_token(login.text), "password": ADMIN_PASSWORD}
        browser.post(f"http://{dashboard}/login", data=credentials, allow_redirects=False, timeout=10)
        page = browser.get(f"http://{dashboard}/ha", timeout=10)
        sent = browser.post(
            f"http://{dashboard}/ha/{form_path}", data={"csrf_token": form_token(page.text), **form},
            allow_redirects=False, timeout=10,
        )  # fmt: skip
        assert sent.status_code == 303, sent.text


def is_member(database: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            row = db.execute("SELECT value FROM _cs_meta WHERE key = 'member'").fetchone()
        return row is not None and bool(row[0])
    except sqlite3.Error:
        return False


@pytest.mark.slow
@pytest.mark.skipif(STRACE is None, reason="strace not installed (make system-deps)")
def test_every_path_the_services_write_is_in_their_units(
    node_dirs: tuple[Path, Path, dict[str, int]],
) -> None:
    n1, n2, ports = node_dirs
    config_path = n1 / "etc" / "config.yaml"
    config = load_config(config_path)
    sf_unit: Unit = failover_unit(config, config_path, sys.executable, "root")
    cs_unit = clustersync_unit(config, config_path, sys.executable, "root")
    assert cs_unit is not None
    assert sf_unit.writable == (n1 / "data", n1 / "history", n1 / "run", n1 / "secrets", n1 / "state")
    assert "StateDirectory=" not in sf_unit.text  # the history has its own folder here
    assert cs_unit.writable == (n1 / "data", n1 / "state")  # it reads the secret, writes no pid file
    for unit in (sf_unit, cs_unit):
        assert f"ReadWritePaths={' '.join(map(str, unit.writable))}" in unit.text.splitlines()

    # simplefailover run: the HA page creates the cluster; pid file; a reload's status.
    sf = Traced(n1, "sf", "simplefailover", "run", "-c", str(config_path))
    try:
        dashboard = f"{DNS_HOST}:{ports['dashboard']}"
        wait_until(lambda: (n1 / "run" / "sf.pid").exists(), 30, "simplefailover's pid file")
        ha_post(dashboard, "create", address=N1, strategy="replicated")
        wait_until(lambda: is_member(n1 / "data" / "app.db"), 30, "the cluster created by the HA page")
        stopped = n1 / "state" / "replication.stopped"
        ha_post(dashboard, "service", action="stop")  # the page's replication switch: a flag in state_dir
        wait_until(stopped.exists, 20, "replication stopped from the HA page")
        ha_post(dashboard, "service", action="start")
        wait_until(lambda: not stopped.exists(), 20, "replication started from the HA page")
        os.kill(sf.service_pid(), signal.SIGHUP)
        wait_until((n1 / "run" / "sf.reload.json").exists, 20, "the reload status")
    finally:
        assert sf.stop() == 0, sf.log.read_text()

    # clustersync run: serves n2's join (a snapshot in its state folder), syncs, reloads.
    (n2 / "secrets").mkdir()
    shutil.copy2(n1 / "secrets" / "cluster.secret", n2 / "secrets" / "cluster.secret")  # as a user would
    n2_config = n2 / "etc" / "config.yaml"
    peer = f"{N1}:{ports['control']}"
    cs = Traced(n1, "cs", "clustersync", "run", "-c", str(config_path))
    try:
        wait_until(lambda: "running: control" in cs.log.read_text(), 30, "clustersync run")
        join = subprocess.run(
            [sys.executable, "-m", "clustersync", "join", "--peer", peer, "-c", str(n2_config)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert join.returncode == 0, join.stderr
        with sqlite3.connect(n1 / "data" / "app.db") as db:
            db.execute("INSERT INTO items (id, v) VALUES (1, 'written by the application')")
        os.kill(cs.service_pid(), signal.SIGHUP)
        events = n1 / "state" / "events.jsonl"
        wait_until(
            lambda: events.exists() and "reload of config.yaml" in events.read_text(), 20, "the reload"
        )
    finally:
        assert cs.stop() == 0, cs.log.read_text()

    private_tmp = n1 / "private-tmp"
    sf_wrote, cs_wrote = written_paths(sf.trace, n1), written_paths(cs.trace, n1)
    assert beyond(sf_wrote, [*sf_unit.writable, RUNTIME_DIR], private_tmp) == []
    assert beyond(cs_wrote, list(cs_unit.writable), private_tmp) == []
    # Nothing more than needed: each allowed path was written in this run.
    assert used(sf_wrote, sf_unit.writable) == set(sf_unit.writable)
    assert used(cs_wrote, cs_unit.writable) == set(cs_unit.writable)
    # The check can fail: the config file's own folder was read, never writable, and is flagged.
    assert beyond({config_path}, list(sf_unit.writable), private_tmp) == [str(config_path)]
    assert (n1 / "state" / "join-snapshots").is_dir()  # the join's snapshot was really made here


def tree(root: Path) -> set[tuple[str, bool]]:
    return {(str(p.relative_to(root)), p.is_dir()) for p in root.rglob("*")}


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (make system-deps)")
def test_install_writes_both_units_and_uninstall_undoes_every_step(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "app.db").write_text("")  # the application's database folder exists already
    before = tree(tmp_path)
    config = tmp_path / "etc" / "simplefailover" / "config.yaml"
    args = (
        "install-service", "--zone-name", "units.example.test", "--hostname", "ias", "--domain-dns-server",
        "127.0.16.1", "--node", "n1=127.0.16.44", "-c", str(config), "--unit-dir", str(tmp_path / "units"),
        "--python", sys.executable, "--cluster-address", "127.0.16.44", "--cluster-database",
        str(tmp_path / "keep" / "app.db"), "--cluster-state-dir", str(tmp_path / "state" / "clustersync"),
        "--replicate", "items",
    )  # fmt: skip
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    units = {name: tmp_path / "units" / name for name in ("simplefailover.service", "clustersync.service")}
    for unit in units.values():
        assert verify(unit) == [], unit.read_text()
    state = tmp_path / "state" / "clustersync"
    expected = f"ReadWritePaths={tmp_path / 'keep'} {state}"
    for name, unit in units.items():
        lines = unit.read_text().splitlines()
        assert expected in lines, name
        assert f"ExecStart={sys.executable} -m {name.split('.')[0]} run -c {config}" in lines
    assert "CapabilityBoundingSet=" in units["clustersync.service"].read_text().splitlines()  # ports > 1023
    # the history in its default folder: systemd's StateDirectory= (/var/lib/simplefailover)
    assert "StateDirectory=simplefailover" in units["simplefailover.service"].read_text().splitlines()
    assert "StateDirectory=" not in units["clustersync.service"].read_text()
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in units["simplefailover.service"].read_text()  # 53, 81
    assert state.is_dir()
    reported = done.stdout.split("Undo:")[0]
    for line in (f"created folder {state}", f"wrote {config}", *(f"wrote {unit}" for unit in units.values())):
        assert line in reported

    # Done twice: the record still lists each step once; then everything is undone.
    again = cli(*args)
    assert again.returncode == 0 and "kept the existing config" in again.stdout
    undone = cli("uninstall-service", "-c", str(config))
    assert undone.returncode == 0, undone.stderr
    for line in (f"removed folder {state}", f"removed {config}", *(f"removed {u}" for u in units.values())):
        assert line in undone.stdout
    assert tree(tmp_path) == before

    # A changed config and a folder holding data are kept.
    assert cli(*args).returncode == 0
    config.write_text(config.read_text() + "# edited\n")
    (state / "status.json").write_text("{}")
    kept = cli("uninstall-service", "-c", str(config))
    assert kept.returncode == 0
    assert f"kept {config}: changed since install-service wrote it" in kept.stdout
    assert f"kept folder {state}: not empty" in kept.stdout
    assert not (tmp_path / "units").exists()
    nothing = cli("uninstall-service", "-c", str(config))
    assert nothing.returncode == 2 and "nothing to undo" in nothing.stderr


@pytest.mark.parametrize(
    ("python", "paths", "expected"),
    [
        ("/usr/bin/python3", ["/etc/simplefailover/config.yaml", "/var/lib/clustersync"], "yes"),
        ("/root/venv/bin/python", ["/etc/simplefailover/config.yaml"], "read-only"),  # a venv in a home
        ("/opt/sf/bin/python", ["/home/app/data"], "read-only"),  # data in a home: reopened by ReadWritePaths
        ("/opt/sf/bin/python", ["/run/user/1000/sf.secret"], "read-only"),
    ],
)
def test_homes_are_hidden_unless_the_service_needs_something_there(
    python: str, paths: list[str], expected: str
) -> None:
    assert protect_home(python, [Path(p) for p in paths]) == expected
