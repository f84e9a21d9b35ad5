"""`clustersync join` on a replicated node: hooks, resumable fetch with retries, verify, swap, mail.

The same function serves the CLI (which prints the progress) and the dashboard's High
Availability page (which shows it): both pass a progress callback.
"""

from __future__ import annotations

import logging
import random
import subprocess
import time
from dataclasses import dataclass, replace
from typing import Any

from habase.hostport import parse_hostport
from habase.notify import Notifier

from .. import __version__
from ..config import Cluster, ClusterConfig
from ..core.errors import ClusterSyncError, ProtocolError, Refused, RemoteError
from ..core.strategy import JoinProgress, Progress
from ..store.database import Store
from ..store.local import open_store
from ..sync.session import Context, run_client
from ..wire.protocol import load_secret
from ..wire.server import open_channel
from .incoming import Incoming, IncomingError, JoinState, interrupted, is_member
from .members import JoinRequest, fetch, free_disk

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JoinOutcome:
    """What a finished join did."""

    node_id: str
    host: str
    port: int
    size: int  # bytes of the snapshot
    received: int  # bytes received by this command (less when it resumed)
    seconds: float  # the whole command
    rows: int  # row versions in the new database (_cs_rows)
    warnings: tuple[str, ...] = ()


def join_readiness(alarms: dict[str, Any], cluster: Cluster) -> dict[str, Any]:
    """The alarms, with readiness saying so when a join was interrupted here (SPEC CL-7)."""
    if not alarms["readiness"]["ready"] and interrupted(cluster.state_dir):
        reason = "join interrupted: run clustersync repair (or the same join again) to complete it"
        alarms = {**alarms, "readiness": {**alarms["readiness"], "ready": False, "reason": reason}}
    return alarms


def run_hook(which: str, command: str | None, timeout: float) -> None:
    """Run a cluster.join_hooks command; raise ClusterSyncError saying what failed."""
    if not command:
        return
    logger.info("running cluster.join_hooks.%s: %s", which, command)
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ClusterSyncError(
            f"cluster.join_hooks.{which} ({command!r}): still running after {timeout:g} s"
        ) from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-300:]
        raise ClusterSyncError(
            f"cluster.join_hooks.{which} ({command!r}) failed, exit {done.returncode}: {tail}"
        )


def join_replicated(config: ClusterConfig, peer: str, progress: Progress | None = None) -> JoinOutcome:
    """Join through a member at peer: before hook, fetch, verify, swap, after hook, mail."""
    cluster = config.cluster
    assert cluster is not None and cluster.database is not None and cluster.address is not None
    show = progress or (lambda p: None)
    started = time.monotonic()
    notifier = Notifier(config.monitoring)
    notifier.start()
    warnings: list[str] = []
    subject = f"[{cluster.node_id}] clustersync"
    try:
        try:
            run_hook("before", cluster.join_hooks.before, cluster.join_hooks.timeout)
            outcome = _join(config, cluster, peer, show, started)
        finally:
            try:
                run_hook("after", cluster.join_hooks.after, cluster.join_hooks.timeout)
            except ClusterSyncError as exc:
                logger.error("%s", exc)
                warnings.append(str(exc))
        outcome = replace(outcome, warnings=outcome.warnings + tuple(warnings))
        rate = outcome.received / outcome.seconds / 1e6 if outcome.seconds else 0.0
        headline = f"joined through {peer}"
        lines = [
            f"Node:     {cluster.node_id} ({cluster.address})",
            f"Snapshot: {outcome.size / 1e6:.1f} MB, {outcome.rows} row versions",
            f"Took:     {outcome.seconds:.1f} s ({rate:.1f} MB/s received)",
            *outcome.warnings,
        ]
        notifier.notify(f"{subject}: joined: through {peer}", "\n".join([headline, "", *lines, ""]))
        return outcome
    except ClusterSyncError as exc:
        lines = [
            f"Node:   {cluster.node_id} ({cluster.address})",
            f"Member: {peer}",
            f"Reason: {exc}",
            *warnings,
        ]
        notifier.notify(f"{subject}: join failed: {exc}"[:200], "\n".join(["join failed", "", *lines, ""]))
        raise
    finally:
        notifier.stop()


def _join(config: ClusterConfig, cluster: Cluster, peer: str, show: Progress, started: float) -> JoinOutcome:
    assert cluster.database is not None
    incoming = Incoming(cluster.database, cluster.state_dir)
    if is_member(cluster.database):
        incoming.state_path.unlink(missing_ok=True)
        raise ClusterSyncError(f"{cluster.database}: this node is already a member; nothing to join")
    try:
        host, port = parse_hostport(peer, cluster.port)
    except ValueError as exc:
        raise ClusterSyncError(f"--peer: {exc}") from None
    secret = load_secret(cluster.secret_path())
    request = JoinRequest(
        cluster.node_id, str(cluster.address), cluster.port, cluster.sync_port(),
        cluster.test_version or __version__, list(cluster.tables.replicated),
    )  # fmt: skip
    folder = cluster.database.parent
    folder.mkdir(parents=True, exist_ok=True)
    state = incoming.load()
    meter = _Meter(show, started)
    attempts = 0
    while state is None or not state.received:
        show(JoinProgress("connect", elapsed=time.monotonic() - started, detail=f"{host}:{port}"))
        try:
            ch = open_channel((host, port), secret, cluster.max_message, cluster.timeout * 6, time.time)
            try:
                meter.first = None
                show(JoinProgress("snapshot", elapsed=time.monotonic() - started, detail="the member copies"))
                state = fetch(ch, request, incoming, lambda: free_disk(folder, cluster.test_free_disk), meter)
            finally:
                ch.sock.close()
        except Refused:
            raise
        except (OSError, ProtocolError, RemoteError) as exc:
            state = incoming.load()
            if state is None:  # no stream started: nothing to resume
                raise ClusterSyncError(f"join through {host} port {port} failed: {exc}") from exc
            attempts += 1
            kept = f"{state.offset} of {state.size} bytes kept"
            if attempts > cluster.join_retries:
                raise ClusterSyncError(
                    f"join interrupted ({kept}): {exc}; run the same command again to resume"
                ) from exc
            logger.warning("join stream from %s:%d broke (%s); resuming (%s)", host, port, exc, kept)
            show(JoinProgress("retry", elapsed=time.monotonic() - started, detail=f"{exc} ({kept})"))
            time.sleep(min(cluster.timeout, 2.0))
    return _finish(config, incoming, state, host, port, show, started, meter.received)


class _Meter:
    """Counts the bytes received by this command and shows the transfer's progress and speed."""

    def __init__(self, show: Progress, started: float) -> None:
        self.show, self.started = show, started
        self.received = 0
        self.first: int | None = None  # kept bytes when the current attempt began
        self.last = 0
        self.since = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = self.last = done
            self.since = now
            detail = f"resuming after {done / 1e6:.1f} MB kept" if done else ""
            self.show(JoinProgress("transfer", done, total, now - self.started, detail=detail))
            return
        self.received += done - self.last
        self.last = done
        rate = (done - self.first) / (now - self.since) if now > self.since else 0.0
        self.show(JoinProgress("transfer", done, total, now - self.started, rate))


def _finish(
    config: ClusterConfig, incoming: Incoming, state: JoinState, host: str, port: int, show: Progress,
    started: float, received: int,
) -> JoinOutcome:  # fmt: skip
    cluster = config.cluster
    assert cluster is not None
    show(JoinProgress("verify", state.size, state.size, time.monotonic() - started))
    try:
        incoming.verify(state)
    except IncomingError as exc:
        incoming.forget()
        raise ClusterSyncError(f"{exc}; run the same command again to fetch a new snapshot") from exc
    show(JoinProgress("install", state.size, state.size, time.monotonic() - started))
    incoming.install(state)
    store = open_store(config)  # capture triggers checked, WAL mode back on
    warnings: tuple[str, ...] = ()
    try:
        rows = int(store.db.execute("SELECT count(*) FROM _cs_rows").fetchone()[0])
        show(
            JoinProgress("catch-up", elapsed=time.monotonic() - started, detail="changes since the snapshot")
        )
        try:
            caught = _catch_up(store, cluster, host)
            detail = (
                f"{caught} changes since the snapshot" if caught is not None else "left to clustersync run"
            )
            show(JoinProgress("catch-up", elapsed=time.monotonic() - started, detail=detail))
        except (OSError, ClusterSyncError) as exc:
            logger.warning("catch-up after the join failed (clustersync run will do it): %s", exc)
            warnings = (f"catch-up left to clustersync run: {exc}",)
    finally:
        store.close()
    seconds = time.monotonic() - started
    show(JoinProgress("done", state.size, state.size, seconds, received / seconds if seconds else 0.0))
    return JoinOutcome(cluster.node_id, host, port, state.size, received, seconds, rows, warnings)


def _catch_up(store: Store, cluster: Cluster, host: str) -> int | None:
    """One ordinary sync session with the member joined through: what it wrote since the snapshot.

    Returns the changes received, or None when the member was busy with other sessions
    each time (clustersync run catches up then).
    """
    member = next((m for m in store.members() if m.address == host), None)
    if member is None:
        return None  # joined through a name, not an address: clustersync run catches up
    ctx = Context(
        store, cluster.max_clock_offset, cluster.batch_rows, store.clock, cluster.test_version or __version__
    )
    secret = load_secret(cluster.secret_path())
    for _ in range(5):
        address = (member.address, member.data_port)
        ch = open_channel(address, secret, cluster.max_message, cluster.timeout * 6, store.clock)
        try:
            return run_client(ch, ctx, member.node_id).received
        except Refused as exc:
            if exc.reason != "busy":
                raise
        finally:
            ch.sock.close()
        time.sleep(random.uniform(0.1, 0.5))  # it syncs with its successor: try again shortly
    return None
