"""The High Availability page: create or join a cluster, members, alarms, the replication service.

Every action is a POST carrying a form token tied to the browser's cookie (a page from
another site can neither read the token nor send the cookie, SameSite=Strict), and runs
the same clustersync.api functions as the `clustersync` command, in a background thread.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template, request, url_for

from clustersync import api
from clustersync.api import ClusterSyncError, JoinProgress
from habase.service import start_thread

from ..config import Config
from ..ops.pidfile import process_alive
from . import access
from .actions import admin_required, admin_status
from .appcontext import audit_trail, context
from .ha_model import JobBoard, check_choice, csrf_ok, csrf_token, local_addresses

logger = logging.getLogger(__name__)

bp = Blueprint("ha", __name__, url_prefix="/ha")

COOKIE = "sf_ha"
KEY = "simplefailover.ha"
JOB_REFRESH = 1  # seconds between reloads while an action runs
EVENTS = 20  # recent cluster events shown


class _State:
    """Per app: the form-token key (new at each start) and the background job."""

    def __init__(self) -> None:
        self.key = secrets.token_bytes(32)
        self.jobs = JobBoard()


def _state() -> _State:
    state: _State = current_app.extensions.setdefault(KEY, _State())
    return state


def _forbidden(message: str) -> Response:
    return Response(f"403 Forbidden: {message}\n", status=403, mimetype="text/plain")


@bp.before_request
def _check_form() -> Response | None:
    """Refuse a POST from another origin or without this browser's form token."""
    if request.method != "POST":
        return None
    origin = request.headers.get("Origin")
    if origin and origin != "null" and not access.host_allowed(urlsplit(origin).netloc):
        logger.warning("HA page: refused a form posted from origin %r", origin)
        return _forbidden(f"forms of this page are accepted from this page only, not from {origin}")
    if not csrf_ok(_state().key, request.cookies.get(COOKIE), request.form.get("csrf_token")):
        logger.warning("HA page: refused a form without a valid token from %s", request.remote_addr)
        return _forbidden(
            "the form's security token is missing or wrong; reload the High Availability page and try again"
        )
    return admin_required(form=False)  # create, join, remove, stop: the administrator only (SF-11)


def _config() -> Config:
    return context().engine.config


def _status(config: Config) -> tuple[dict[str, Any] | None, str]:
    """clustersync's status of this node, or why there is none."""
    if config.cluster is None:
        return None, ""
    try:
        return api.status(config), ""
    except (ClusterSyncError, sqlite3.Error, OSError) as exc:
        return None, str(exc)


def _health(config: Config) -> dict[str, Any] | None:
    """The last status of this node's `clustersync run`, while that process still exists."""
    health = api.health(config)
    if health is None or not process_alive(health.get("pid")):
        return None
    return health


def _page(errors: tuple[str, ...] = (), snippet: str = "", status: int = 200) -> Response:
    config = _config()
    cluster = config.cluster
    job = _state().jobs.current()
    busy = job is not None and job.running
    # While an action runs, leave the database alone: a join replaces it and wants it unused.
    data, problem = (None, "") if busy else _status(config)
    health = _health(config)
    member = bool(data and data.get("member"))
    if busy:
        refresh: int | None = JOB_REFRESH
    else:
        # Reloading would wipe what someone types into the wizard: only members' pages reload.
        refresh = config.dashboard.refresh if member else None
    browser = request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
    body = render_template(
        "ha.html",
        config=config,
        cluster=cluster,
        data=data,
        problem=problem,
        member=member,
        busy=busy,
        health=health,
        stopped=api.replication_stopped(config),
        events=api.events(config, EVENTS),
        last_sync=(health or {}).get("last_ok"),
        job=job,
        now=context().clock(),
        refresh=refresh,
        addresses=local_addresses(str(cluster.address) if cluster and cluster.address else None),
        strategies=api.STRATEGY_NAMES,
        errors=errors,
        snippet=snippet,
        token=csrf_token(_state().key, browser),
        admin=admin_status(),
    )
    response = Response(body, status=status, mimetype="text/html")
    response.set_cookie(COOKIE, browser, httponly=True, samesite="Strict", path=url_for("ha.page"))
    return response


@bp.get("")
def page() -> Response:
    """Members, strategy, alarms and events; the create/join wizard on a node that is no member."""
    return _page()


def _start(kind: str, steps: str, action: Callable[[], str]) -> Response:
    """Run an action in the background; the page shows its step and outcome."""
    jobs = _state().jobs
    if jobs.begin(kind) is None:
        return _page(("another action is still running; wait for it to finish",), status=409)
    jobs.step(steps)
    audit = audit_trail(f"ha {kind}")  # SF-6: who asked, from where
    audit("asked", steps)

    def run() -> None:
        try:
            message = action()
        except ClusterSyncError as exc:
            logger.warning("HA page: %s failed: %s", kind, exc)
            jobs.finish(False, str(exc))
            audit("failed", str(exc))
        except Exception as exc:
            logger.exception("HA page: %s failed", kind)
            jobs.finish(False, f"{type(exc).__name__}: {exc}")
            audit("failed", f"{type(exc).__name__}: {exc}")
        else:
            logger.info("HA page: %s", message)
            jobs.finish(True, message)
            audit("done", message)

    start_thread(f"ha-{kind}", run)
    # 303: the browser GETs the page, so a reload never posts the form again.
    return Response(status=303, headers={"Location": url_for("ha.page")})


@bp.post("/create")
def create() -> Response:
    """Make this node the first member, as `clustersync create` does."""
    config = _config()
    choice = check_choice(config, request.form.get("address", ""), request.form.get("strategy", ""))
    if choice.problems:
        return _page(choice.problems, choice.snippet, status=400)

    def action() -> str:
        done = api.create(config)
        secret = f"; cluster secret created at {done.secret_path}" if done.secret_created else ""
        return f"{done.summary()}{secret}"

    return _start("create", "creating the cluster", action)


@bp.post("/join")
def join() -> Response:
    """Join a cluster through one of its members, as `clustersync join --peer` does."""
    config = _config()
    strategy = config.cluster.strategy if config.cluster else "replicated"
    choice = check_choice(config, request.form.get("address", ""), strategy)
    peer = request.form.get("peer", "").strip()
    problems = choice.problems + (() if peer else ("give the address of a member to join through",))
    if problems:
        return _page(problems, choice.snippet, status=400)

    jobs = _state().jobs

    def progress(now: JoinProgress) -> None:
        jobs.step(" ".join(now.line().split()), now.done, now.total, now.phase)

    def action() -> str:
        done = api.join(config, peer, progress)
        size = f" ({done.size / 1e6:.1f} MB in {done.seconds:.1f} s)" if done.size else ""
        warnings = "".join(f"; warning: {w}" for w in done.warnings)
        return (
            f"{done.node_id} joined through {done.host}:{done.port}: {done.rows} rows copied{size}{warnings}"
        )

    return _start("join", f"joining through {peer}: copying the member's data", action)


@bp.post("/service")
def service() -> Response:
    """Stop or start replication on this node, as `clustersync service stop|start` does."""
    config = _config()
    action = request.form.get("action", "")
    if action not in ("start", "stop"):
        return _page((f"action must be start or stop, not {action!r}",), status=400)

    def run() -> str:
        return api.set_replication(config, action == "start")

    return _start("service", f"{action} replication", run)


@bp.post("/remove")
def remove() -> Response:
    """Remove a member from the cluster, as `clustersync remove NODE_ID` does."""
    config = _config()
    node_id = request.form.get("node", "").strip()
    if not node_id:
        return _page(("say which member to remove",), status=400)

    def run() -> str:
        done = api.remove(config, node_id)
        return f"{done.node_id} removed from the cluster (through {done.via}); it keeps its data"

    return _start("remove", f"removing {node_id}", run)
