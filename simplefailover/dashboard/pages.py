"""The dashboard page."""

from __future__ import annotations

import time

from flask import Blueprint, render_template

from .actions import admin_status
from .appcontext import context
from .view import build_view

bp = Blueprint("pages", __name__)


@bp.app_template_filter("clock")
def clock_filter(at: float | None) -> str:
    """Local time of day, as HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(at)) if at is not None else "-"


@bp.app_template_filter("stamp")
def stamp_filter(at: float | None) -> str:
    """Local date and time."""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(at)) if at is not None else "-"


@bp.app_template_filter("day")
def day_filter(at: float) -> str:
    """Local weekday and date."""
    return time.strftime("%a %d %b", time.localtime(at))


@bp.app_template_filter("duration")
def duration_filter(seconds: float) -> str:
    """3 d 4 h, 2 h 5 min, 4 min 10 s, 12 s."""
    whole = int(seconds)
    days, hours, minutes = whole // 86400, whole % 86400 // 3600, whole % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {whole % 60} s" if minutes else f"{whole} s"


def ago(now: float, at: float | None) -> str:
    """How long ago, coarse: 4 s, 3 min, 2 h, 5 d."""
    if at is None:
        return ""
    seconds = max(0, int(now - at))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@bp.get("/")
def index() -> str:
    """The status page; reloads itself every dashboard.refresh seconds, no JavaScript."""
    ctx = context()
    view = build_view(ctx.engine.snapshot(), now=ctx.clock())
    names = {h.fqdn: h.name for h in view.hostnames}
    return render_template(
        "dashboard/index.html",
        view=view,
        names=names,
        ago=ago,
        admin=admin_status(),
        nodes=ctx.engine.config.nodes,
    )
