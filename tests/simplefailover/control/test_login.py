"""The administrator login (SF-11): the password file, sessions, and the HA page's gate."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from simplefailover.config import load_config
from simplefailover.dashboard import create_app
from simplefailover.dashboard.login import Admin, admin_file_text, hash_password, password_ok
from simplefailover.engine import Engine
from simplefailover.metrics import Metrics
from tests.simplefailover.dashboard.ha_nodes import ADMIN_TOKEN, form_token, log_in, make_node


@settings(max_examples=5, deadline=None)  # scrypt is slow on purpose
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_only_the_password_matches_its_hash(password: str, other: str) -> None:
    line = hash_password(password)
    assert password_ok(line, password)
    assert password_ok(line, other) == (other == password)
    assert not password_ok("scrypt$broken", password) and not password_ok("", password)


def test_the_api_token_and_sessions(tmp_path: Path) -> None:
    path = tmp_path / "admin"
    path.write_text(admin_file_text("a long password", "tok"))
    admin = Admin()
    assert admin.log_in(path, "wrong") is None
    session = admin.log_in(path, "a long password")
    assert session and admin.session_ok(session) and not admin.session_ok("forged")
    admin.log_out(session)
    assert not admin.session_ok(session)
    assert admin.bearer_ok(path, "Bearer tok") and not admin.bearer_ok(path, "Bearer tok2")
    assert not admin.bearer_ok(path, "tok") and not admin.bearer_ok(None, "Bearer tok")


def test_ha_actions_need_the_administrator(tmp_path: Path) -> None:
    node = make_node(tmp_path, 1)
    client = create_app(Engine(load_config(node.config)), Metrics(), {"TESTING": True}).test_client()
    page = client.get("/ha").get_data(as_text=True)
    assert 'id="ha-login"' in page  # reading is open, the page says how to act
    form = {"csrf_token": form_token(page), "address": node.address, "strategy": "replicated"}
    refused = client.post("/ha/create", data=form)
    assert refused.status_code == 401 and "log in" in refused.get_data(as_text=True)
    scripted = client.post(
        "/api/control", json={"action": "list"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert scripted.status_code == 409  # authorised; no control service in this app: said, not crashed
    log_in(client)
    assert 'id="ha-login"' not in client.get("/ha").get_data(as_text=True)


def test_without_the_password_file_actions_are_off_and_say_how(tmp_path: Path) -> None:
    node = make_node(tmp_path, 1)
    node.admin_file.unlink()
    client = create_app(Engine(load_config(node.config)), Metrics(), {"TESTING": True}).test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="actions-off"' in page and "simplefailover admin-password" in page
    token = form_token(client.get("/ha").get_data(as_text=True))
    refused = client.post("/ha/create", data={"csrf_token": token, "address": node.address})
    assert refused.status_code == 403 and "admin-password" in refused.get_data(as_text=True)
    assert client.post("/control", data={"action": "maintenance_on", "target": "app1"}).status_code == 403
