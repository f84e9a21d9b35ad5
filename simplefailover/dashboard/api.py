"""Machine endpoints: /api/status (JSON), /metrics (Prometheus text), /healthz."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .appcontext import context
from .view import as_json, build_view

bp = Blueprint("api", __name__)


@bp.get("/api/status")
def status() -> Response:
    """The page's data as JSON; ?events=N limits the events (default: every one kept)."""
    limit = request.args.get("events")
    if limit is not None and not limit.isdigit():
        abort(400, description="events must be a whole number")
    ctx = context()
    view = build_view(ctx.engine.snapshot(), now=ctx.clock(), events=None if limit is None else int(limit))
    return jsonify(as_json(view))


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics of this service."""
    return Response(generate_latest(context().metrics.registry), content_type=CONTENT_TYPE_LATEST)


@bp.get("/healthz")
def healthz() -> Response:
    """200 once the first round of polls is done (answers are real), 503 before."""
    engine = context().engine
    if engine.ready.is_set():
        return Response(f"ok: serial {engine.table.serial}\n", status=200, mimetype="text/plain")
    return Response("starting: waiting for the first round of polls\n", status=503, mimetype="text/plain")
