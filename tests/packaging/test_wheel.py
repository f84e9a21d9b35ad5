"""The wheel is the product: installed without extras, both commands run from its venv.

Builds the wheel, installs it in a fresh venv (tests/packaging/wheel.py), and from that venv's
console scripts, with the working directory outside the checkout: `simplefailover check` and
`run` (DNS answers), `clustersync create`, `join`, `run` and `status` for two members, data
replicated between them; then SIGHUP to all three services, which keep serving and mail the
next events to the recipient the edited config names. The test process only drives and
watches (dnspython, the aiosmtpd inbox of tests/support).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bind import free_port, wait_until
from tests.support.procs import a_records, stop_process
from tests.support.smtp import Inbox, smtp_server

from .wheel import ROOT, InstalledProduct, build_and_install

pytestmark = pytest.mark.slow

SMTP, DNS_HOST = "127.0.16.30", "127.0.16.33"
MEMBERS = {"n1": "127.0.16.31", "n2": "127.0.16.32"}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> InstalledProduct:
    return build_and_install(tmp_path_factory.mktemp("wheel"))


def common_port(hosts: list[str], avoid: set[int]) -> int:
    """A TCP port free, with the next one, on every host (members share port numbers on their addresses)."""
    for _ in range(50):
        port = free_port(hosts[0], (socket.SOCK_STREAM,))
        if {port, port + 1} & avoid:
            continue
        try:
            for host in hosts:
                for each in (port, port + 1):
                    with socket.socket() as probe:
                        probe.bind((host, each))
        except OSError:
            continue
        return port
    raise AssertionError("no common free port")


def config(folder: Path, node: str, ports: dict[str, int], recipient: str) -> str:
    n1, n2 = MEMBERS["n1"], MEMBERS["n2"]
    return f"""
zone: {{name: example.test, nameservers: [{{name: ns1.example.test, address: {DNS_HOST}}}]}}
nodes: [{{id: n1, address: {n1}, priority: 10}}, {{id: n2, address: {n2}, priority: 5}}]
pollings: [{{id: sync, method: tcp, port: {ports["control"]}, timeout: 1}}]
hostnames: [{{name: www, polling: sync}}]
schedule: {{interval: 0.3, retry_interval: 0.2, fall: 1, rise: 1, jitter: 0}}
dns: {{listen: ["{DNS_HOST}:{ports["dns"]}"]}}
dashboard: {{listen: "{DNS_HOST}:{ports["dashboard"]}"}}
monitoring:
  recipients: [{recipient}]
  smtp: {{host: {SMTP}, port: {ports["smtp"]}, security: none, sender: ha@example.test, timeout: 2}}
  retry_delay: 0.2
  retry_max_delay: 0.5
cluster:
  node_id: {node}
  address: "{MEMBERS[node]}"
  port: {ports["control"]}
  data_port: {ports["control"] + 1}
  database: {folder / "app.db"}
  secret_file: {folder / "cluster.secret"}
  state_dir: {folder / "state"}
  tables: {{replicated: [items]}}
  sync_interval: 0.5
  retry_interval: 1
  timeout: 1
service: {{pid_file: {folder / "sf.pid"}, watch_config: 0}}
"""


class Site:
    """Both members' folders and the commands run from the product's venv, outside the checkout."""

    def __init__(self, product: InstalledProduct, root: Path, ports: dict[str, int], inbox: Inbox) -> None:
        self.product, self.root, self.ports, self.inbox = product, root, ports, inbox
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.transcript: list[str] = []
        for node in MEMBERS:
            folder = self.folder(node)
            folder.mkdir(parents=True)
            db = sqlite3.connect(folder / "app.db")
            db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
            db.commit()
            db.close()
            self.write(node, "old@example.test")

    def folder(self, node: str) -> Path:
        return self.root / node

    def cfg(self, node: str) -> Path:
        return self.folder(node) / "config.yaml"

    def write(self, node: str, recipient: str) -> None:
        self.cfg(node).write_text(config(self.folder(node), node, self.ports, recipient))

    def cmd(self, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.product.bin(args[0]), *args[1:]], cwd=self.root, env=self.product.env(),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        self.transcript.append(f"$ {' '.join(args)}  -> exit {done.returncode}\n{done.stdout}{done.stderr}")
        assert done.returncode in ok, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def start(self, name: str, *args: str) -> None:
        self.note(f"started {' '.join(args)}  (cwd {self.root}, {name}.log)")
        with (self.root / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [self.product.bin(args[0]), *args[1:]], cwd=self.root, env=self.product.env(),
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def stop(self, name: str) -> int | None:
        return stop_process(self.procs[name], 20)

    def status(self, node: str) -> dict[str, object]:
        done = self.cmd("clustersync", "status", "--json", "-c", str(self.cfg(node)))
        self.transcript[-1] = self.transcript[-1].split("\n", 1)[0] + " (JSON read by the test)\n"
        result: dict[str, object] = json.loads(done.stdout)
        return result

    def note(self, text: str) -> None:
        self.transcript.append(f"# {text}\n")


@pytest.fixture
def site(product: InstalledProduct, tmp_path: Path) -> Iterator[Site]:
    dns_port = free_port(DNS_HOST)
    control = common_port(list(MEMBERS.values()), {dns_port})
    ports = {"dns": dns_port, "control": control, "dashboard": free_port(DNS_HOST, (socket.SOCK_STREAM,))}
    with smtp_server(SMTP) as (inbox, smtp_port):
        made = Site(product, tmp_path, ports | {"smtp": smtp_port}, inbox)
        try:
            yield made
        finally:
            for name in list(made.procs):
                made.stop(name)
            print("\n".join(made.transcript))


def answers(port: int) -> list[str]:
    return a_records("www.example.test", DNS_HOST, port)


def reload_applied(site: Site, node: str) -> bool:
    """clustersync keeps each reload's outcome in its event log (the HA page shows it)."""
    events = site.folder(node) / "state" / "events.jsonl"
    return events.exists() and "reload of config.yaml applied" in events.read_text()


def test_installed_wheel_runs_both_services_and_reloads_them(site: Site, product: InstalledProduct) -> None:
    inbox = site.inbox
    py = site.cmd(
        "python",
        "-c",
        "import habase, simplefailover, clustersync;"
        " print(habase.__file__, simplefailover.__file__, clustersync.__file__)",
    )
    assert all(Path(p).is_relative_to(product.venv) for p in py.stdout.split()), py.stdout
    assert not any(Path(p).is_relative_to(ROOT) for p in py.stdout.split())
    site.cmd("python", "-c", "import importlib.util as u; assert u.find_spec('psycopg') is None")
    version = site.cmd("simplefailover", "--version").stdout.split()[-1]
    assert site.cmd("clustersync", "--version").stdout.split() == ["clustersync", version]
    assert product.wheel.name.startswith(f"simplefailover-{version}-")

    n1, n2 = (str(site.cfg(node)) for node in MEMBERS)
    site.cmd("clustersync", "create", "-c", n1)
    shutil.copy2(
        site.folder("n1") / "cluster.secret", site.folder("n2") / "cluster.secret"
    )  # as a user would
    site.start("cs-n1", "clustersync", "run", "-c", n1)
    wait_until(lambda: "running: control" in site.log("cs-n1"), 30, "clustersync run on n1")
    site.cmd("clustersync", "join", "--peer", f"{MEMBERS['n1']}:{site.ports['control']}", "-c", n2)
    site.start("cs-n2", "clustersync", "run", "-c", n2)
    wait_until(lambda: "running: control" in site.log("cs-n2"), 30, "clustersync run on n2")
    site.cmd("clustersync", "status", "-c", n2)
    for node in MEMBERS:
        members = site.status(node)["members"]
        assert isinstance(members, list)
        assert {(m["id"], m["version"]) for m in members} == {("n1", version), ("n2", version)}

    db = sqlite3.connect(site.folder("n1") / "app.db")
    db.execute("INSERT INTO items (id, name) VALUES (1, 'from the wheel')")
    db.commit()
    db.close()

    def replicated() -> bool:
        with sqlite3.connect(site.folder("n2") / "app.db") as other:
            return other.execute("SELECT name FROM items WHERE id = 1").fetchall() == [("from the wheel",)]

    wait_until(replicated, 30, "the row on n2")
    site.note("a row written on n1 is on n2")

    site.cmd("simplefailover", "check", "-c", n1)
    site.start("sf-n1", "simplefailover", "run", "-c", n1)
    wait_until(lambda: answers(site.ports["dns"]) == [MEMBERS["n1"]], 30, "www -> n1 over DNS")
    site.note(f"DNS: www.example.test A -> {answers(site.ports['dns'])}")

    # SIGHUP to the three services: new recipient, everything keeps serving.
    for node in MEMBERS:
        site.write(node, "new@example.test")
    site.note("both configs now mail new@example.test instead of old@example.test; SIGHUP to all three")
    for name in ("sf-n1", "cs-n1", "cs-n2"):
        site.procs[name].send_signal(signal.SIGHUP)
    status_file = site.folder("n1") / "sf.reload.json"
    wait_until(status_file.exists, 20, "simplefailover's reload outcome")
    assert json.loads(status_file.read_text())["ok"] is True
    wait_until(lambda: all(reload_applied(site, node) for node in MEMBERS), 20, "clustersync reloaded")
    assert all(site.alive(name) for name in ("sf-n1", "cs-n1", "cs-n2"))
    assert answers(site.ports["dns"]) == [MEMBERS["n1"]]
    site.note(f"simplefailover {status_file.name}: {status_file.read_text().strip()}")
    for node in MEMBERS:
        events = (site.folder(node) / "state" / "events.jsonl").read_text().splitlines()
        site.note(f"clustersync {node} event: {[e for e in events if 'reload' in e][-1]}")
    site.note(f"after the SIGHUPs: all three running, DNS www -> {answers(site.ports['dns'])}")
    db = sqlite3.connect(site.folder("n2") / "app.db")
    db.execute("INSERT INTO items (id, name) VALUES (2, 'after the reload')")
    db.commit()
    db.close()
    wait_until(lambda: ("after the reload",) in sqlite3.connect(site.folder("n1") / "app.db").execute(
        "SELECT name FROM items").fetchall(), 30, "n2's row on n1 after the reload")  # fmt: skip
    site.cmd("clustersync", "status", "-c", n1)

    # n2's clustersync stops: simplefailover (its check of n2) and clustersync on n1 mail the new recipient.
    before = len(inbox.mails)
    assert site.stop("cs-n2") == 0
    sf_subject, cs_subject = "[n1] sync KO on n2", "[n1] clustersync: failure"
    wait_until(lambda: sf_subject in inbox.subjects(), 30, sf_subject)
    wait_until(lambda: any(s.startswith(cs_subject) for s in inbox.subjects()), 30, cs_subject)
    after = inbox.mails[before:]
    assert {str(m["To"]) for m in after} == {"new@example.test"}, [(m["Subject"], m["To"]) for m in after]
    site.note(
        "n2's clustersync stopped; mails since: " + "; ".join(f"{m['Subject']} -> {m['To']}" for m in after)
    )
    assert answers(site.ports["dns"]) == [MEMBERS["n1"]]

    # Without the postgres extra, the shared strategy says what to install; nothing else broke.
    shared = site.root / "shared.yaml"
    shared.write_text(
        site.cfg("n1").read_text().replace("  tables:", "  strategy: shared\n  dsn: dbname=x\n  tables:")
    )
    refused = site.cmd("clustersync", "create", "-c", str(shared), ok=(1,))
    assert "install simplefailover[postgres]" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert all(site.alive(name) for name in ("sf-n1", "cs-n1"))
    assert site.stop("sf-n1") == 0 and site.stop("cs-n1") == 0
    for name in ("sf-n1", "cs-n1", "cs-n2"):
        assert "Traceback" not in site.log(name), site.log(name)
    site.transcript.append(f"wheel {product.wheel.name} built and installed in {product.seconds:.1f} s")
