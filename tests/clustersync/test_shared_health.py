"""Strategy shared, the pure parts: the DSN without its password, the alarms from SharedHealth."""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from clustersync.core.status import alarms
from clustersync.shared.health import SharedHealth
from clustersync.shared.membership import safe_dsn, scrub

passwords = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda p: p not in "***" and p.strip() == p
)


@given(password=passwords)
def test_password_never_in_safe_dsn_or_scrubbed_text(password: str) -> None:
    """safe_dsn drops the password whatever its characters; scrub removes it from any text."""
    dsn = make_conninfo(host="127.0.0.140", port="5432", user="ha", dbname="app", password=password)
    assert "password" not in conninfo_to_dict(safe_dsn(dsn))
    assert conninfo_to_dict(safe_dsn(dsn))["host"] == "127.0.0.140"
    assert password not in scrub(f"failed for {password} at {password}", dsn)
    uri = f"postgresql://ha:{quote(password, safe='')}@127.0.0.140:5432/app"
    assert "password" not in conninfo_to_dict(safe_dsn(uri))
    masked = scrub(f"<{quote(password, safe='')}>", uri)
    assert password not in masked and quote(password, safe="") not in masked


def test_shared_health_gives_the_alarms() -> None:
    """What a check found, through status.alarms: the rules a shared member's alarms follow."""
    mine = "0.1.0"
    member = {"node_id": "n1", "version": mine}
    ok = SharedHealth("n1", mine, database="host=h")
    ok.database_ok([member], True, 100.0)
    ok.updated = 100.0
    a = alarms(True, asdict(ok), 10, 101.0)
    assert a["readiness"]["ready"] is True
    assert (a["activity"]["state"], a["activity"]["peer"]) == ("green", "database")

    down = SharedHealth("n1", mine)
    down.database_ok([member], True, 100.0)
    down.database_failed("cannot connect to host=h: refused", 101.0)
    down.updated = 101.0
    a = alarms(True, asdict(down), 10, 101.0)
    assert a["readiness"]["reason"] == "database unreachable: cannot connect to host=h: refused"
    assert a["activity"]["state"] == "red"

    gone = SharedHealth("n1", mine)
    gone.database_ok([], False, 100.0)
    gone.updated = 100.0
    assert alarms(False, asdict(gone), 10, 101.0)["readiness"]["reason"].startswith(
        "removed from the cluster"
    )

    other = SharedHealth("n1", mine)
    other.database_ok([member, {"node_id": "n2", "version": "0.2.0"}], True, 100.0)
    other.versions(mine)
    other.updated = 100.0
    reason = alarms(True, asdict(other), 10, 101.0)["readiness"]["reason"]
    assert reason == "version mismatch: n2 runs 0.2.0, this node 0.1.0"
    assert alarms(True, asdict(ok), 10, 120.0)["readiness"]["reason"] == "clustersync run is not running"
