"""The localhost dashboard: the page, the JSON API, Prometheus metrics and the health check."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response

from ..engine import Engine
from ..history import HistoryService
from ..metrics import Metrics
from . import access
from .appcontext import Clock, DashboardContext, audit_trail

if TYPE_CHECKING:
    from ..control.service import ControlService


def create_app(
    engine: Engine,
    metrics: Metrics,
    settings: Mapping[str, Any] | None = None,
    clock: Clock = time.time,
    history: HistoryService | None = None,
    control: ControlService | None = None,
) -> Flask:
    """Build the dashboard app for one engine and its metrics; settings override Flask config."""
    from .actions import bp as actions_bp
    from .api import bp as api_bp
    from .ha import bp as ha_bp
    from .history import bp as history_bp
    from .pages import bp as pages_bp

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024)
    if settings:
        app.config.update(settings)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["simplefailover"] = DashboardContext(engine, metrics, clock, history, control)
    access.install(app)
    app.after_request(_secure_headers)
    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(actions_bp)
    app.register_blueprint(ha_bp)
    app.register_blueprint(history_bp)
    return app


def _secure_headers(response: Response) -> Response:
    # Nothing here is meant to be framed, cached or loaded from elsewhere.
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


__all__ = ["DashboardContext", "audit_trail", "create_app"]
