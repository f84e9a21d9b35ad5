"""The history page (/history) and its data: /api/history (CSV or JSON), /api/failovers."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Response, abort, jsonify, render_template, request

from ..history import HistoryService, formats, store
from ..history.formats import parse_time
from ..history.pictures import WINDOWS, build
from ..history.timeline import failovers
from .appcontext import context

bp = Blueprint("history", __name__)
T = TypeVar("T")
MAX_EVENTS = 100_000


def _history() -> HistoryService:
    history = context().history
    if history is None or not history.running:
        abort(404, description="history is off (history.enabled: false, or its database could not be opened)")
    return history


def _time(name: str, default: float | None) -> float | None:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        return parse_time(text, context().clock())
    except ValueError as exc:
        abort(400, description=str(exc))


def _read(history: HistoryService, fn: Callable[[sqlite3.Connection], T]) -> T:
    db = history.reader()
    try:
        return fn(db)
    finally:
        db.close()


@bp.get("/history")
def page() -> str:
    """Availability bands and latency per check, per day, per hostname; failover timelines; events."""
    history = _history()
    window = WINDOWS.get(request.args.get("window", "day"))
    if window is None:
        abort(400, description=f"window must be one of {', '.join(WINDOWS)}")
    ctx = context()
    view = build(history, ctx.engine.config, window, ctx.clock())
    return render_template(
        "dashboard/history.html", h=view, windows=WINDOWS, refresh=ctx.engine.config.dashboard.refresh
    )


@bp.get("/api/history")
def events() -> Response:
    """Recorded events: ?since=&until= (12h, epoch, ISO 8601), &node=, &kind=, &format=json|csv."""
    history = _history()
    now = context().clock()
    since, until = _time("since", now - 86400), _time("until", None)
    kinds = request.args.getlist("kind") or None
    node = request.args.get("node")
    found = _read(history, lambda db: store.events(db, since, until, node, kinds, MAX_EVENTS))
    form = request.args.get("format", "json")
    if form == "csv":
        return Response(
            formats.as_csv(found),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="simplefailover-history.csv"'},
        )
    if form != "json":
        abort(400, description="format must be json or csv")
    return jsonify([e.as_dict() for e in found])


@bp.get("/api/failovers")
def failover_list() -> Response:
    """Each answer change with when the check first failed, was agreed, DNS changed, caches expire."""
    history = _history()
    now = context().clock()
    since, until = _time("since", now - 7 * 86400), _time("until", None)
    found = _read(history, lambda db: store.events(db, since, until, kinds=["answer"], limit=MAX_EVENTS))
    return jsonify([f.as_dict() for f in failovers(found, context().engine.config.zone.ttl)])
