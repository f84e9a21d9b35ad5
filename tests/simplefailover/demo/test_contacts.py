"""The demo contacts application, through Flask's client and over a real socket."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import requests

from simplefailover.config import HttpPolling, Node
from simplefailover.demo import DemoNode
from simplefailover.demo.contacts import create_contacts_app
from simplefailover.pollers import HttpPoller
from tests.support.bind import free_port


def test_add_and_read_contacts(tmp_path: Path) -> None:
    database = tmp_path / "node" / "app.db"
    client = create_contacts_app(database, "node7").test_client()
    assert client.post("/contacts", data={"name": "Ada", "phone": "123"}).status_code == 303
    created = client.post("/api/contacts", json={"id": "c-2", "name": "Grace"})
    assert created.status_code == 201
    assert created.get_json() == {"id": "c-2", "node": "node7"}
    listed = client.get("/api/contacts").get_json()
    assert sorted((c["name"], c["phone"]) for c in listed) == [("Ada", "123"), ("Grace", "")]
    page = client.get("/").get_data(as_text=True)
    assert "Ada" in page and "Grace" in page and "node7" in page
    assert client.get("/health").get_json() == {"ok": True, "node": "node7", "contacts": 2}
    # Another process writing plain SQL sees the same rows: it is an ordinary SQLite file.
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == 2


def test_overwrite_and_delete_by_id(tmp_path: Path) -> None:
    client = create_contacts_app(tmp_path / "app.db", "node7").test_client()
    assert client.post("/api/contacts", json={"id": "k", "name": "first"}).status_code == 201
    assert client.post("/api/contacts", json={"id": "k", "name": "second"}).status_code == 201
    assert [c["name"] for c in client.get("/api/contacts").get_json()] == ["second"]
    gone = client.delete("/api/contacts/k")
    assert gone.status_code == 200 and gone.get_json() == {"id": "k", "deleted": 1, "node": "node7"}
    assert client.get("/api/contacts").get_json() == []
    assert client.delete("/api/contacts/k").get_json()["deleted"] == 0  # deleting twice is fine


def test_bad_input_is_refused_without_writing(tmp_path: Path) -> None:
    client = create_contacts_app(tmp_path / "app.db", "n").test_client()
    assert client.post("/api/contacts", data="not json").status_code == 400
    assert client.post("/api/contacts", json={"name": ""}).status_code == 400
    assert client.post("/contacts", data={"name": "  "}).status_code == 400
    assert client.get("/api/contacts").get_json() == []


def test_demo_node_serves_the_app_and_stops(tmp_path: Path) -> None:
    node = Node(id="n1", address="127.0.0.27")
    port = free_port("127.0.0.27")  # a fixed port: the polling URL needs one
    demo = DemoNode(node, port, [], database=tmp_path / "app.db")
    demo.start()
    try:
        base = f"http://127.0.0.27:{demo.http_port}"
        assert requests.post(f"{base}/api/contacts", json={"name": "Linus"}, timeout=5).status_code == 201
        assert requests.get(f"{base}/health", timeout=5).json()["contacts"] == 1
        polling = HttpPolling(
            id="p", method="http", url=f"http://{{address}}:{demo.http_port}/fw/login", expect_body="Login"
        )
        assert HttpPoller(polling).check(node).ok
    finally:
        demo.stop()
    assert not HttpPoller(polling).check(node).ok
