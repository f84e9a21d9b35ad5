"""RFC 2136 on the wire, against a real BIND: read, replace, compare-and-swap, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simplefailover.config import DnsUpdate
from simplefailover.dns.update_client import PrerequisiteFailed, UpdateClient, UpdateError
from simplefailover.dns.update_plan import Change, Records, plan_change, records_of

from .conftest import KEY_NAME, SECRET, WRONG_SECRET, ZONE, Bind, free_port

IAS1 = f"ias1.{ZONE}"


def client_for(bind: Bind, tmp_path: Path, secret: str = SECRET, **settings: object) -> UpdateClient:
    secret_file = tmp_path / "tsig.secret"
    secret_file.write_text(secret + "\n")
    values: dict[str, object] = {
        "server": bind.host,
        "port": bind.port,
        "key_name": KEY_NAME,
        "secret_file": secret_file,
        "timeout": 2,
    }
    values.update(settings)
    return UpdateClient(DnsUpdate.model_validate(values), ZONE)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_replace_a_with_a_and_aaaa_then_read_it_back(bind: Bind, tmp_path: Path, transport: str) -> None:
    client = client_for(bind, tmp_path, transport=transport)
    held = client.read(IAS1)
    assert held == records_of(["127.0.0.89"], 30)  # from the zone file
    wanted = records_of(["127.0.0.81", "::1"], 20)
    change = plan_change(IAS1, wanted, held)
    assert change is not None
    client.send(change)
    assert bind.addresses(IAS1) == {"127.0.0.81", "::1"}
    assert bind.ttl(IAS1, "AAAA") == 20
    assert client.read(IAS1) == wanted


def test_an_empty_answer_removes_both_rrsets(bind: Bind, tmp_path: Path) -> None:
    client = client_for(bind, tmp_path)
    client.send(Change(IAS1, Records(ttl=30), client.read(IAS1)))
    assert bind.addresses(IAS1) == set()
    assert client.read(IAS1).empty


def test_a_name_that_does_not_exist_reads_empty_and_can_be_created(bind: Bind, tmp_path: Path) -> None:
    client = client_for(bind, tmp_path)
    name = f"new.{ZONE}"
    assert client.read(name) == Records()
    client.send(Change(name, records_of(["127.0.0.82"], 30), Records()))
    assert bind.addresses(name) == {"127.0.0.82"}


def test_an_update_planned_on_stale_records_is_refused_not_applied(bind: Bind, tmp_path: Path) -> None:
    """The prerequisite makes each UPDATE a compare-and-swap between instances."""
    client = client_for(bind, tmp_path)
    stale = client.read(IAS1)
    bind.set_records(IAS1, "A", "127.0.0.83")  # another writer got there first
    with pytest.raises(PrerequisiteFailed):
        client.send(Change(IAS1, records_of(["127.0.0.81"], 30), stale))
    assert bind.addresses(IAS1) == {"127.0.0.83"}
    with pytest.raises(PrerequisiteFailed):  # "does not exist" prerequisite, for AAAA
        client.send(Change(IAS1, records_of(["::1"], 30), Records()))


def test_wrong_secret_is_refused_with_a_message_naming_the_key_and_not_the_secret(
    bind: Bind, tmp_path: Path
) -> None:
    client = client_for(bind, tmp_path, secret=WRONG_SECRET)
    serial = bind.serial()
    with pytest.raises(UpdateError) as caught:
        client.send(Change(IAS1, records_of(["127.0.0.81"], 30), client.read(IAS1)))
    text = str(caught.value)
    assert KEY_NAME in text and "BADSIG" in text and f"{bind.host}:{bind.port}" in text
    assert WRONG_SECRET not in text and SECRET not in text
    assert bind.addresses(IAS1) == {"127.0.0.89"}
    assert bind.serial() == serial


def test_unknown_key_name_is_refused(bind: Bind, tmp_path: Path) -> None:
    client = client_for(bind, tmp_path, key_name="other-key")
    with pytest.raises(UpdateError, match="does not know TSIG key other-key"):
        client.send(Change(IAS1, records_of(["127.0.0.81"], 30), client.read(IAS1)))


def test_a_secret_that_is_not_base64_is_reported_without_echoing_it(bind: Bind, tmp_path: Path) -> None:
    client = client_for(bind, tmp_path, secret="not base64 at all!")
    with pytest.raises(UpdateError, match="not valid base64") as caught:
        client.send(Change(IAS1, records_of(["127.0.0.81"], 30), Records()))
    assert "at all" not in str(caught.value)


def test_a_missing_secret_variable_is_named(
    bind: Bind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SF_TEST_NO_SUCH_SECRET", raising=False)
    client = client_for(bind, tmp_path, secret_file=None, secret_env="SF_TEST_NO_SUCH_SECRET")
    with pytest.raises(UpdateError, match="SF_TEST_NO_SUCH_SECRET"):
        client.send(Change(IAS1, records_of(["127.0.0.81"], 30), Records()))


def test_a_zone_the_server_does_not_serve_is_an_error_not_empty_records(bind: Bind, tmp_path: Path) -> None:
    client = UpdateClient(client_for(bind, tmp_path).update, "other.example")
    with pytest.raises(UpdateError, match=r"REFUSED|not authoritative"):
        client.read("ias1.other.example")


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_a_server_that_is_down_is_an_error_saying_where(tmp_path: Path, transport: str) -> None:
    port = free_port("127.0.0.1")
    update = DnsUpdate.model_validate(
        {
            "server": "127.0.0.1",
            "port": port,
            "key_name": KEY_NAME,
            "secret_env": "X",
            "timeout": 0.5,
            "transport": transport,
        }
    )
    with pytest.raises(UpdateError, match=re.escape(f"127.0.0.1:{port}: query {IAS1} A")):
        UpdateClient(update, ZONE).read(IAS1)


def test_update_policy_as_documented_grants_the_managed_name_only(
    bind_with_policy: Bind, tmp_path: Path
) -> None:
    bind = bind_with_policy
    client = client_for(bind, tmp_path)
    client.send(Change(IAS1, records_of(["127.0.0.81", "::1"], 30), client.read(IAS1)))
    assert bind.addresses(IAS1) == {"127.0.0.81", "::1"}
    other = f"ias2.{ZONE}"
    with pytest.raises(UpdateError, match="REFUSED"):
        client.send(Change(other, records_of(["127.0.0.81"], 30), Records()))
    assert bind.addresses(other) == set()
