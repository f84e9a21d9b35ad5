"""Administrator actions on the dashboard and the API: log in, maintenance, pins (SF-11).

Forms carry a token bound to the session (CSRF); the JSON route takes the session cookie
or `Authorization: Bearer TOKEN`. Every action goes through the same `ControlService.handle`
as the CLI, so the pre-flight check and the audit are the same whichever way it comes.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from ..control.overrides import parse_duration, parse_time
from . import access
from .appcontext import context
from .ha_model import csrf_ok, csrf_token
from .login import ENABLE_HINT, SESSION_COOKIE, SESSION_SECONDS, Admin

logger = logging.getLogger(__name__)

bp = Blueprint("actions", __name__)
LOGIN_COOKIE = "sf_login"
KEY = "simplefailover.actions"


class _State:
    def __init__(self) -> None:
        self.key = secrets.token_bytes(32)  # form tokens: new at each start
        self.admin = Admin()


def _state() -> _State:
    state: _State = current_app.extensions.setdefault(KEY, _State())
    return state


def _admin_file() -> Any:
    return context().engine.config.dashboard.admin_password_file


def admin_status() -> dict[str, Any]:
    """For the page: whether actions are on, whether this browser is logged in, its form token."""
    state = _state()
    session = request.cookies.get(SESSION_COOKIE)
    on = Admin.lines(_admin_file()) is not None
    logged_in = on and state.admin.session_ok(session)
    return {
        "on": on,
        "logged_in": logged_in,
        "token": csrf_token(state.key, session or "") if logged_in else "",
        "hint": ENABLE_HINT,
    }


def _plain(message: str, status: int) -> Response:
    return Response(f"{status} {message}\n", status=status, mimetype="text/plain")


def _see_other(path: str) -> Response:
    return Response("", status=303, headers={"Location": path})


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    return not origin or origin == "null" or access.host_allowed(urlsplit(origin).netloc)


def admin_required(form: bool = True) -> Response | None:
    """None when the request comes from the logged-in administrator, else the refusal to send.

    form: a browser form, which must also carry the session's token; else the JSON API,
    which also takes the bearer token.
    """
    state = _state()
    path = _admin_file()
    if Admin.lines(path) is None:
        return _plain(f"Forbidden: {ENABLE_HINT}", 403)
    if not _same_origin():
        return _plain("Forbidden: actions are accepted from this dashboard only", 403)
    session = request.cookies.get(SESSION_COOKIE)
    if not form and state.admin.bearer_ok(path, request.headers.get("Authorization")):
        return None
    if not state.admin.session_ok(session):
        logger.warning(
            "dashboard: refused an action without an administrator login from %s", request.remote_addr
        )
        return _plain("Unauthorized: log in as administrator first (/login)", 401)
    if form and not csrf_ok(state.key, session, request.form.get("csrf_token")):
        return _plain("Forbidden: the form's security token is missing or wrong; reload the page", 403)
    return None


@bp.get("/login")
def login_page() -> Response:
    browser = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    on = Admin.lines(_admin_file()) is not None
    html = render_template(
        "dashboard/login.html", on=on, hint=ENABLE_HINT, token=csrf_token(_state().key, browser), error=""
    )
    response = Response(html)
    response.set_cookie(LOGIN_COOKIE, browser, httponly=True, samesite="Strict", path="/login")
    return response


@bp.post("/login")
def login() -> Response:
    state = _state()
    if not _same_origin() or not csrf_ok(
        state.key, request.cookies.get(LOGIN_COOKIE), request.form.get("csrf_token")
    ):
        return _plain("Forbidden: the form's security token is missing or wrong; reload the login page", 403)
    session = state.admin.log_in(_admin_file(), request.form.get("password", ""))
    if session is None:
        time.sleep(0.5)  # a guessing script waits
        logger.warning("dashboard: wrong administrator password from %s", request.remote_addr)
        html = render_template(
            "dashboard/login.html",
            on=Admin.lines(_admin_file()) is not None,
            hint=ENABLE_HINT,
            token=request.form.get("csrf_token", ""),
            error="wrong password",
        )
        return Response(html, status=401)
    response = _see_other("/")
    response.set_cookie(
        SESSION_COOKIE, session, max_age=SESSION_SECONDS, httponly=True, samesite="Strict", path="/"
    )
    return response


@bp.post("/logout")
def logout() -> Response:
    refused = admin_required()
    if refused is None:
        _state().admin.log_out(request.cookies.get(SESSION_COOKIE))
    response = _see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _request_from(data: dict[str, Any]) -> dict[str, Any]:
    """A control request from form or JSON fields; ValueError on a bad duration or time."""
    now = time.time()
    start = parse_time(str(data["at"]), now) if data.get("at") else now
    end = None
    if data.get("for"):
        end = start + parse_duration(str(data["for"]))
    elif data.get("until"):
        end = parse_time(str(data["until"]), start)
    force = data.get("force") in (True, "on", "true", "1")
    out = {
        "action": str(data.get("action", "")),
        "target": str(data.get("target", "")),
        "node": str(data.get("node", "")),
        "reason": str(data.get("reason", ""))[:300],
        "start": start,
        "end": end,
        "force": force,
        "who": f"dashboard admin@{request.remote_addr}",
    }
    return out


def _handle(data: dict[str, Any]) -> dict[str, Any]:
    control = context().control
    if control is None:
        return {"ok": False, "message": "maintenance and pins are not available in this process"}
    try:
        return control.handle(_request_from(data))
    except ValueError as exc:
        return {"ok": False, "message": str(exc)}


@bp.post("/control")
def control_form() -> Response:
    refused = admin_required()
    if refused is not None:
        return refused
    reply = _handle(request.form.to_dict())
    if not reply.get("ok"):
        return _plain(f"Refused: {reply.get('message')}", 409)
    return _see_other("/")


@bp.post("/api/control")
def control_api() -> Response:
    refused = admin_required(form=False)
    if refused is not None:
        return refused
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _plain("Bad Request: send a JSON object", 400)
    reply = _handle(data)
    response = jsonify(reply)
    response.status_code = 200 if reply.get("ok") else 409
    return response
