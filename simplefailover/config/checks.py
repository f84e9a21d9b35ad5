"""Checks across sections, done on the raw data so they add to the schema's errors."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from habase.loader import Problem
from habase.yamlsource import YamlSource


def _ids(items: Any) -> Iterable[tuple[int, str]]:
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                yield index, item["id"]


def cross_checks(source: YamlSource) -> list[Problem]:
    """Checks across sections, done on the raw data so they add to schema errors."""
    data = source.data
    found: list[tuple[tuple[str | int, ...], str]] = []
    for section in ("nodes", "pollings"):
        seen: dict[str, int] = {}
        for index, ident in _ids(data.get(section)):
            if ident in seen:
                found.append(
                    ((section, index, "id"), f"duplicate id {ident!r} (also {section}[{seen[ident]}])")
                )
            seen.setdefault(ident, index)
    polling_ids = {ident for _, ident in _ids(data.get("pollings"))}
    hostnames = data.get("hostnames") if isinstance(data.get("pollings"), list) else None
    names: dict[str, int] = {}
    if isinstance(hostnames, list):
        for index, item in enumerate(hostnames):
            if not isinstance(item, dict):
                continue
            ref = item.get("polling")
            if isinstance(ref, str) and ref not in polling_ids:
                known = ", ".join(sorted(polling_ids)) or "none defined"
                found.append((("hostnames", index, "polling"), f"unknown polling {ref!r} (known: {known})"))
            name = item.get("name")
            if isinstance(name, str):
                key = name.lower().rstrip(".")
                if key in names:
                    found.append(
                        (
                            ("hostnames", index, "name"),
                            f"duplicate hostname {name!r} (also hostnames[{names[key]}])",
                        )
                    )
                names.setdefault(key, index)
    found.extend(_update_hostname_checks(data, names))
    found.extend(_peers_checks(data))
    return found


def _peers_checks(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """peers.members must list this instance, and a secret must sign their messages."""
    peers, cluster = data.get("peers"), data.get("cluster")
    members = peers.get("members") if isinstance(peers, dict) else None
    if not isinstance(members, list) or len(members) < 2:
        return []
    assert isinstance(peers, dict)
    cluster = cluster if isinstance(cluster, dict) else {}
    found: list[tuple[tuple[Any, ...], str]] = []
    me = peers.get("id") or cluster.get("node_id") or socket.gethostname()
    ids = {m.get("id") for m in members if isinstance(m, dict)}
    if "id" not in peers and me not in ids:
        message = f"this instance ({me!r}, from cluster.node_id or the host name) is not listed; set peers.id"
        found.append((("peers", "members"), message))
    if not peers.get("secret_file") and not cluster.get("secret_file"):
        found.append(
            (("peers", "secret_file"), "required (or cluster.secret_file) to sign messages between members")
        )
    return found


def _update_hostname_checks(data: dict[str, Any], names: dict[str, int]) -> list[tuple[tuple[Any, ...], str]]:
    """dns.update.hostnames must name hostnames that exist, inside dns.update.zone."""
    dns = data.get("dns")
    update = dns.get("update") if isinstance(dns, dict) else None
    wanted = update.get("hostnames") if isinstance(update, dict) else None
    found: list[tuple[tuple[Any, ...], str]] = []
    zone = data.get("zone")
    zone_name = zone.get("name") if isinstance(zone, dict) else None
    target = update.get("zone") if isinstance(update, dict) else None
    if isinstance(zone_name, str) and isinstance(target, str):
        inner, outer = zone_name.lower().rstrip("."), target.lower().rstrip(".")
        if inner != outer and not inner.endswith("." + outer):
            message = f"the hostnames of zone {inner} are not inside zone {outer}: the server would refuse"
            found.append((("dns", "update", "zone"), message))
    if isinstance(wanted, list) and names:
        for index, name in enumerate(wanted):
            if isinstance(name, str) and name.lower().rstrip(".") not in names:
                known = ", ".join(sorted(names))
                message = f"unknown hostname {name!r} (known: {known})"
                found.append((("dns", "update", "hostnames", index), message))
    return found
