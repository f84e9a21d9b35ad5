"""The demo application: a small contacts book on the node's own SQLite database.

Plain SQL through the standard sqlite3 module, as any application would write it:
clustersync captures the changes with triggers, so the app knows nothing of replication.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, redirect, render_template_string, request

SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
)
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Contacts on {{ node }}</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:50rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}
.node{background:#0f172a;color:#fff;padding:.2rem .5rem;border-radius:.3rem}</style></head>
<body><h1>Contacts <span class="node">{{ node }}</span></h1>
<p>This node's own SQLite database ({{ count }} contacts). Add one here, read it on another node.</p>
<form method="post" action="/contacts"><input name="name" placeholder="Name" required maxlength="100">
<input name="phone" placeholder="Phone" maxlength="40"><button>Add</button></form>
<table><tr><th>Name</th><th>Phone</th><th>Added</th></tr>
{% for c in contacts %}
<tr><td>{{ c.name }}</td><td>{{ c.phone }}</td><td>{{ c.created }}</td></tr>
{% endfor %}
</table></body></html>"""


def create_contacts_app(database: Path, node_id: str) -> Flask:
    """A Flask app serving the contacts of one node's database."""
    app = Flask(__name__)
    database.parent.mkdir(parents=True, exist_ok=True)
    with _connect(database) as db:
        db.execute(SCHEMA)

    @app.get("/")
    def index() -> str:
        with _connect(database) as db:
            rows = db.execute("SELECT name, phone, created FROM contacts ORDER BY created DESC LIMIT 200")
            contacts = [
                {"name": n, "phone": p, "created": time.strftime("%H:%M:%S", time.localtime(c))}
                for n, p, c in rows
            ]
            count = db.execute("SELECT count(*) FROM contacts").fetchone()[0]
        return render_template_string(PAGE, node=node_id, contacts=contacts, count=count)

    @app.post("/contacts")
    def add_form() -> Any:
        name = request.form.get("name", "").strip()
        if not name:
            abort(400, "name is required")
        _insert(database, str(uuid.uuid4()), name, request.form.get("phone", "").strip())
        return redirect("/", code=303)

    @app.get("/api/contacts")
    def list_json() -> Any:
        with _connect(database) as db:
            rows = db.execute("SELECT id, name, phone, created FROM contacts ORDER BY id")
            return jsonify([{"id": i, "name": n, "phone": p, "created": c} for i, n, p, c in rows])

    @app.post("/api/contacts")
    def add_json() -> Any:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
            return jsonify(error="expected JSON {name, phone?, id?}"), 400
        contact_id = str(data.get("id") or uuid.uuid4())
        _insert(database, contact_id, data["name"][:100], str(data.get("phone", ""))[:40])
        return jsonify(id=contact_id, node=node_id), 201  # sent only after the commit

    @app.delete("/api/contacts/<contact_id>")
    def delete_json(contact_id: str) -> Any:
        with _connect(database) as db:
            gone = db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,)).rowcount
        return jsonify(id=contact_id, deleted=gone, node=node_id), 200  # sent only after the commit

    @app.get("/fw/login")
    def login() -> str:
        return f"<html><title>Login</title><body>Login page of {node_id}</body></html>"

    @app.get("/health")
    def health() -> Any:
        try:
            with _connect(database) as db:
                count = db.execute("SELECT count(*) FROM contacts").fetchone()[0]
        except sqlite3.Error as exc:
            return jsonify(ok=False, node=node_id, error=str(exc)), 503
        return jsonify(ok=True, node=node_id, contacts=count)

    return app


@contextmanager
def _connect(database: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(database, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        with db:
            yield db
    finally:
        db.close()


def _insert(database: Path, contact_id: str, name: str, phone: str) -> None:
    with _connect(database) as db:
        db.execute(
            "INSERT OR REPLACE INTO contacts (id, name, phone, created) VALUES (?, ?, ?, ?)",
            (contact_id, name, phone, time.time()),
        )
