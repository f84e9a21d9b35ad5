"""Strategy shared against a real PostgreSQL: membership, status, alarms through an outage.

Members use 127.0.0.141-149; the session's PostgreSQL listens on 127.0.0.140 (postgres.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from clustersync import __version__
from clustersync.api import status as status_data
from clustersync.config import load_settings
from clustersync.core.errors import ClusterSyncError
from clustersync.ops import event_log
from clustersync.shared import membership as shared
from clustersync.shared.node import SharedNode, create, join, remove
from tests.support.smtp import Inbox, smtp_server

from .nodes import ROOT, NodeDir, make_nodes, wait_for
from .postgres import HOST, PASSWORD, Postgres, free_port


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.140 that keeps what it receives."""
    with smtp_server(HOST) as running:
        yield running


def configure(node: NodeDir, dsn: str, smtp_port: int | None = None) -> None:
    """Write the node's config for strategy shared (with mail to smtp_port, if given)."""
    node.write_config(strategy="shared", dsn=f'"{dsn}"')
    if smtp_port is not None:
        with node.config.open("a") as out:
            out.write(
                "monitoring:\n  notifications: true\n  recipients: [ops@example.com]\n"
                f"  smtp: {{host: {HOST}, port: {smtp_port}, security: none, sender: ha@example.com}}\n"
            )


def shared_nodes(
    tmp_path: Path, postgres: Postgres, db: str, count: int, smtp_port: int | None = None
) -> list[NodeDir]:
    """Members n1.. with strategy shared; n1 has the password in its DSN, the others a passfile."""
    nodes = make_nodes(tmp_path, [f"127.0.0.{141 + i}" for i in range(count)])
    for i, node in enumerate(nodes):
        dsn = postgres.dsn(db)
        if i:
            dsn = (
                postgres.dsn(db, password=False)
                + f" passfile={postgres.passfile(node.folder / 'pgpass', db)}"
            )
        configure(node, dsn, smtp_port)
    return nodes


def status(node: NodeDir) -> dict[str, Any]:
    """The node's status, as `clustersync status --json` computes it."""
    return status_data(load_settings(node.config))


def start(node: NodeDir) -> None:
    """Start `clustersync run` (shared: it listens on no port) and wait for its first status."""
    log = (node.folder / "run.log").open("ab")
    node.proc = subprocess.Popen(
        [sys.executable, "-m", "clustersync", "run", "-c", str(node.config)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    log.close()
    wait_for(lambda: (node.folder / "state" / "status.json").exists(), 20, f"{node.node_id} status.json")


def http_get(node: NodeDir, path: str) -> tuple[int, str]:
    """GET one of the health endpoints on the node's control port: status and body."""
    try:
        with urllib.request.urlopen(f"http://{node.address}:{node.port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ready(node: NodeDir) -> bool:
    data = status(node)
    alarms = data["alarms"]
    return bool(alarms["readiness"]["ready"]) and alarms["activity"]["state"] == "green"


def test_shared_members_follow_the_database(
    tmp_path: Path, postgres: Postgres, inbox: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Create, join, status, an outage of PostgreSQL and its return, with real run processes."""
    db = postgres.new_database("shared_run")
    nodes = shared_nodes(tmp_path, postgres, db, 3, smtp_port=inbox[1])
    n1, n2, n3 = nodes
    # n3's DSN names no password at all: libpq finds it through PGPASSFILE in the environment.
    configure(n3, postgres.dsn(db, password=False), inbox[1])
    monkeypatch.setenv("PGPASSFILE", str(postgres.passfile(tmp_path / "pgpass-env", db)))
    try:
        assert "strategy shared" in n1.cli("create").stdout
        n2.cli("join", "--peer", n1.peer)
        n3.cli("join", "--peer", n2.address)
        for node in nodes:
            start(node)
        for node in nodes:
            wait_for(lambda node=node: ready(node), 20, f"{node.node_id} ready and green")  # type: ignore[misc]
        data = json.loads(n2.cli("status", "--json").stdout)
        assert data["strategy"] == "shared"
        assert [(m["id"], m["address"], m["position"], m["local"]) for m in data["members"]] == [
            ("n1", "127.0.0.141", 1, False),
            ("n2", "127.0.0.142", 2, True),
            ("n3", "127.0.0.143", 3, False),
        ]
        assert {m["strategy"] for m in data["members"]} == {"shared"}
        assert data["alarms"]["time_alignment"]["state"] == "green"
        assert http_get(n3, "/readiness")[0] == 200  # what a load balancer asks
        assert "clustersync_ready 1.0" in http_get(n3, "/metrics")[1]
        assert "clustersync_members 3.0" in http_get(n3, "/metrics")[1]

        # One database: what one member's application writes, the others read at once.
        with psycopg.connect(postgres.dsn(db), autocommit=True) as conn:
            conn.execute("CREATE TABLE contacts (id integer PRIMARY KEY, name text)")
            conn.execute("INSERT INTO contacts VALUES (1, 'Ada')")
        n2_dsn = str(load_settings(n2.config).cluster.dsn)  # type: ignore[union-attr]
        with psycopg.connect(n2_dsn) as conn:
            assert conn.execute("SELECT name FROM contacts").fetchall() == [("Ada",)]

        postgres.stop()
        try:
            for node in nodes:
                wait_for(
                    lambda node=node: (
                        "database unreachable"  # type: ignore[misc]
                        in status(node)["alarms"]["readiness"]["reason"]
                    ),
                    20,
                    f"{node.node_id} not ready because of the database",
                )
            for node in nodes:
                data = status(node)
                assert data["alarms"]["readiness"]["ready"] is False
                assert data["alarms"]["activity"]["state"] == "red"
                assert [m["id"] for m in data["members"]] == ["n1", "n2", "n3"]  # as last seen
                assert node.proc is not None and node.proc.poll() is None, f"{node.node_id} exited"
            code, body = http_get(n1, "/readiness")
            assert code == 503 and "database unreachable" in body
            assert "clustersync_ready 0.0" in http_get(n1, "/metrics")[1]
            text = n1.cli("status").stdout
            # "cannot connect to host=..." or, when the heartbeat's connection was cut, "host=...: lost"
            assert "NOT READY: database unreachable: " in text and "host=127.0.0.140" in text
            assert "NOT REACHABLE" in text
        finally:
            postgres.start()
        for node in nodes:
            wait_for(lambda node=node: ready(node), 20, f"{node.node_id} green again")  # type: ignore[misc]
        for node in nodes:  # each member mails both transitions once, through the SMTP server
            for kind in ("sync not ready", "sync ready"):
                wait_for(
                    lambda node=node, kind=kind: (
                        len(  # type: ignore[misc]
                            inbox[0].matching(f"[{node.node_id}] clustersync: {kind}:")
                        )
                        == 1
                    ),
                    20,
                    f"one mail {kind!r} from {node.node_id}",
                )
        assert all(PASSWORD not in subject for subject in inbox[0].subjects())
    finally:
        for node in nodes:
            node.kill(signal.SIGTERM)
    for node in nodes:
        log = (node.folder / "run.log").read_text()
        assert "event sync not ready" in log and "event sync ready" in log, log
        kinds = [e["kind"] for e in event_log.recent(node.folder / "state")]
        assert kinds[:2] == ["sync ready", "sync not ready"]  # newest first, for the HA page
        assert PASSWORD not in log
        assert PASSWORD not in (node.folder / "state" / "status.json").read_text()


def test_shared_membership_rules(tmp_path: Path, postgres: Postgres) -> None:
    """Refusals, an idempotent join, remove; the heartbeat sees a removal (in-process, same code)."""
    db = postgres.new_database("shared_rules")
    n1, n2, n3 = shared_nodes(tmp_path, postgres, db, 3)
    c1, c2 = (load_settings(n.config) for n in (n1, n2))
    with pytest.raises(ClusterSyncError, match="no cluster: run clustersync create first"):
        join(c2, n1.peer)
    cluster = create(c1)
    with pytest.raises(ClusterSyncError, match="already a member"):
        create(c1)
    with pytest.raises(
        ClusterSyncError,
        match=r"already holds cluster \w+ with members n1 \(127\.0\.0\.141\): run clustersync join",
    ):
        create(c2)
    with pytest.raises(ClusterSyncError, match=re.escape("--peer 127.0.0.149 is not a member")):
        join(c2, "127.0.0.149")
    assert join(c2, n1.peer) == (cluster, 2)
    assert join(c2, n1.peer) == (cluster, 2)  # again: completes nothing twice
    n3.write_config(strategy="shared", dsn=f'"{postgres.dsn(db)}"', address="127.0.0.142", node_id="n9")
    with pytest.raises(
        ClusterSyncError, match=re.escape("address 127.0.0.142 is already used by member 'n2'")
    ):
        join(load_settings(n3.config), n1.address)

    node = SharedNode(c2)
    node.check()
    assert node.ready is True
    assert status(n2)["alarms"]["readiness"]["ready"] is True

    # clustersync service stop: no heartbeat while stopped, readiness says why; start: back.
    assert "replication stopped on n2" in n2.cli("service", "stop").stdout
    node.check()
    beat = {m["id"]: m["heartbeat_age"] for m in status(n1)["members"]}["n2"]
    reason = status(n2)["alarms"]["readiness"]["reason"]
    assert reason.startswith("replication stopped: by clustersync service stop at "), reason
    wait_for(lambda: {m["id"]: m["heartbeat_age"] for m in status(n1)["members"]}["n2"] > beat, 10, "age")
    n2.cli("service", "start")
    node.check()
    assert node.ready is True
    assert {m["id"]: m["heartbeat_age"] for m in status(n1)["members"]}["n2"] < beat + 0.5

    done = n1.cli("remove", "n2")  # the CLI, on another member
    assert "n2 removed (recorded by the shared database)" in done.stdout
    node.check()
    assert node.ready is False
    assert status(n2)["alarms"]["readiness"]["reason"].startswith("removed from the cluster")
    assert [m["id"] for m in status(n1)["members"]] == ["n1"]
    with pytest.raises(ClusterSyncError, match="'n2' is not a member; members: n1"):
        remove(c1, "n2")
    node.stop()
    assert status(n3)["member"] is False


def test_unreachable_database_message_has_no_password(tmp_path: Path) -> None:
    """A DSN to a closed port: the error names host and port, never the password."""
    (node,) = make_nodes(tmp_path, ["127.0.0.149"])
    dsn = f"host={HOST} port={free_port(HOST)} dbname=app user=ha password={PASSWORD}"
    node.write_config(strategy="shared", dsn=f'"{dsn}"')
    done = node.cli("create", check=False)
    assert done.returncode == 1
    assert f"cannot connect to host={HOST} port=" in done.stderr, done.stderr
    assert PASSWORD not in done.stderr + done.stdout


def test_shared_time_alignment_and_versions(tmp_path: Path, postgres: Postgres) -> None:
    """A clock 30 s off the database's turns time alignment red; another version, readiness."""
    db = postgres.new_database("shared_alarms")
    n1, n2 = shared_nodes(tmp_path, postgres, db, 2)
    create(load_settings(n1.config))
    with (
        psycopg.connect(postgres.dsn(db), autocommit=True) as conn,
        pytest.raises(ClusterSyncError, match=re.escape(f"n2 runs 0.0.9, n1 runs {__version__}")),
    ):
        shared.join(conn, "n2", n2.address, n2.port, n1.address, version="0.0.9")
    n2.write_config(strategy="shared", dsn=f'"{postgres.dsn(db)}"')
    join(load_settings(n2.config), n1.address)

    n1.write_config(strategy="shared", dsn=f'"{postgres.dsn(db)}"', test_clock_offset=30)
    node = SharedNode(load_settings(n1.config))
    node.check()
    alarms = status(n1)["alarms"]
    assert alarms["time_alignment"]["state"] == "red"
    found = re.fullmatch(
        r"this node's clock is (\d+\.\d) s ahead of the database's \(limit 15 s\)",
        alarms["time_alignment"]["detail"],
    )
    assert found and abs(float(found.group(1)) - 30) < 2, alarms["time_alignment"]
    assert alarms["readiness"]["ready"] is True  # the data is the database's: only the alarm says it

    with psycopg.connect(postgres.dsn(db), autocommit=True) as conn:
        conn.execute("UPDATE clustersync.members SET version = '0.0.9' WHERE node_id = 'n2'")
    node.check()
    assert status(n1)["alarms"]["readiness"] == {
        "ready": False,
        "state": "red",
        "reason": f"version mismatch: n2 runs 0.0.9, this node {__version__}",
    }
    node.stop()


def test_hung_database_is_cut(tmp_path: Path, postgres: Postgres) -> None:
    """A server that hangs (stopped, its kernel still acknowledging) does not hang the check."""
    db = postgres.new_database("shared_hung")
    (n1,) = shared_nodes(tmp_path, postgres, db, 1)
    config = load_settings(n1.config)
    create(config)
    node = SharedNode(config)
    node.check()
    assert node.ready is True
    with postgres.paused():
        node.check()  # without the deadline, this would block until pytest's timeout
        readiness = node.alarms()["readiness"]
        data = status(n1)  # connects afresh: bounded by connect_timeout
    assert str(data["database_error"]).startswith(f"cannot connect to host={HOST} port={postgres.port}")
    assert data["alarms"]["readiness"]["ready"] is False
    assert readiness["ready"] is False
    assert readiness["reason"].startswith(f"database unreachable: host={HOST} port={postgres.port}")
    assert readiness["reason"].endswith("no answer within 2 s (connection cut)")
    node.check()
    assert node.ready is True
    node.stop()


def test_schema_made_by_a_dba_and_concurrent_joins(tmp_path: Path, postgres: Postgres) -> None:
    """A role that may not create anything works on a schema made beforehand; joins never collide."""
    db = postgres.new_database("shared_dba", owner="postgres")
    for statement in shared.SCHEMA:
        postgres.admin(statement, db)
    postgres.admin("GRANT USAGE ON SCHEMA clustersync TO ha", db)
    postgres.admin("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA clustersync TO ha", db)
    nodes = shared_nodes(tmp_path, postgres, db, 5)
    configs = [load_settings(n.config) for n in nodes]
    with psycopg.connect(postgres.dsn(db)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE SCHEMA clustersync")  # the role really may not
    create(configs[0])

    positions: dict[str, int] = {}
    errors: list[BaseException] = []

    def join_one(config: Any) -> None:
        try:
            positions[config.cluster.node_id] = join(config, nodes[0].address)[1]
        except BaseException as exc:  # reported below, with the node
            errors.append(exc)

    threads = [threading.Thread(target=join_one, args=(c,)) for c in configs[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(positions.values()) == [2, 3, 4, 5]
    assert [m["position"] for m in status(nodes[4])["members"]] == [1, 2, 3, 4, 5]
