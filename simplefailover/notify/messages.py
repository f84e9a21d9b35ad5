"""Pure: turn transitions into short plain-text mails that read well on a phone."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from habase.notify import Mail

from ..config import Config
from ..state import AnswerTable, Transition

DNS_UPDATE = "dns_update"  # Transition.kind of a failed external DNS update (RFC 2136)
CERT_EXPIRY = "cert_expiry"  # Transition.kind of a TLS certificate running out (notify.certs)


@dataclass(frozen=True, slots=True)
class Origin:
    """Which instance sends: its cluster node id (or host name) and the machine's host name."""

    instance: str
    host: str


def origin_of(config: Config) -> Origin:
    """The sending instance, as named in every mail."""
    host = socket.gethostname()
    return Origin(config.cluster.node_id if config.cluster else host, host)


def is_notable(t: Transition) -> bool:
    """Whether a transition deserves a mail.

    Start-up is not news: a check's first result (UNKNOWN -> OK/KO) and a hostname's
    first answer are not mailed; answer moves are told inside the check mails.
    """
    if t.kind == "check":
        return (t.old, t.new) in (("OK", "KO"), ("KO", "OK"))
    return t.kind in ("all_down", DNS_UPDATE, CERT_EXPIRY)


def when(at: float) -> str:
    """A time as people read it, in UTC so every instance says the same."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def render(t: Transition, config: Config, table: AnswerTable, origin: Origin) -> Mail:
    """The mail for one notable transition."""
    tag = f"[{origin.instance}]"
    lines: list[str]
    if t.kind == "check":
        failed = t.new == "KO"
        title = "Polling failure" if failed else "Polling success"
        subject = f"{tag} {t.polling_id} {'KO' if failed else 'OK again'} on {t.node_id}"
        lines = [
            f"{title}: polling {t.polling_id} on node {t.node_id} is {t.new} (was {t.old}).",
            "",
            f"Node:     {_node(config, t.node_id)}",
            f"Polling:  {_polling(config, t.polling_id)}",
            f"{('Error:' if failed else 'Reason:'):<10}{t.reason}",
            f"Time:     {when(t.at)}",
            "",
            *_answers(config, table, _fqdns_of(config, t.polling_id)),
        ]
    elif t.kind == "all_down":
        subject = f"{tag} ALL NODES DOWN for {t.hostname}"
        lines = [
            f"All nodes down: no node is OK for {t.hostname}.",
            "",
            f"Hostname: {t.hostname}",
            f"Polling:  {_polling(config, _polling_of(config, t.hostname))}",
            f"What DNS does: {t.reason}",
            f"Time:     {when(t.at)}",
            "",
            *_answers(config, table, [t.hostname]),
        ]
    elif t.kind == DNS_UPDATE:
        subject = f"{tag} DNS update FAILED for {t.hostname or 'the zone'}"
        lines = [
            f"DNS update failure: the external DNS server was not updated for {t.hostname or 'the zone'}.",
            "",
            f"Hostname: {t.hostname or '-'}",
            f"Error:    {t.reason}",
            f"Time:     {when(t.at)}",
            "",
            *_answers(config, table, [t.hostname] if t.hostname else list(table.answers)),
        ]
    elif t.kind == CERT_EXPIRY:
        subject = f"{tag} TLS certificate of {t.node_id} ({t.polling_id}): {t.new}"
        lines = [
            f"Certificate expiry: the TLS certificate polling {t.polling_id} sees on node {t.node_id} "
            "runs out soon. Renew it before clients and checks start failing.",
            "",
            f"Node:     {_node(config, t.node_id)}",
            f"Polling:  {_polling(config, t.polling_id)}",
            f"Expiry:   {t.reason}",
            f"Time:     {when(t.at)}",
            "",
            "This warning is sent once; it comes again only after a renewed certificate runs short.",
        ]
    else:
        subject = f"{tag} {t.kind}: {t.hostname or t.node_id} {t.old} -> {t.new}"
        lines = [f"{t.kind}: {t.old} -> {t.new}: {t.reason}", f"Time:     {when(t.at)}"]
    return Mail(subject, _finish(lines, origin))


def render_digest(items: Sequence[Transition], config: Config, table: AnswerTable, origin: Origin) -> Mail:
    """One mail listing every transition of a storm, oldest first."""
    items = sorted(items, key=lambda t: t.at)
    span = items[-1].at - items[0].at if items else 0.0
    subject = f"[{origin.instance}] {len(items)} changes in {span:.0f} s (digest)"
    lines = [
        f"Storm digest: {len(items)} changes between {when(items[0].at)} and {when(items[-1].at)}"
        if items
        else "Storm digest: no changes.",
        "(more changes than monitoring.storm_threshold within monitoring.storm_window;",
        "they are listed here instead of one mail each)",
        "",
        *(f"{time.strftime('%H:%M:%S', time.gmtime(t.at))}  {one_line(t)}" for t in items),
        "",
        *_answers(config, table, list(table.answers)),
    ]
    return Mail(subject, _finish(lines, origin))


def one_line(t: Transition) -> str:
    """A transition in one line, for digests and the event list."""
    if t.kind == "check":
        return f"{t.polling_id} on {t.node_id}: {t.old} -> {t.new} ({t.reason})"
    if t.kind == "all_down":
        return f"{t.hostname}: ALL NODES DOWN ({t.reason})"
    if t.kind == DNS_UPDATE:
        return f"{t.hostname or 'zone'}: DNS update failed ({t.reason})"
    if t.kind == CERT_EXPIRY:
        return f"{t.polling_id} on {t.node_id}: {t.reason}"
    return f"{t.kind} {t.hostname or t.node_id}: {t.old} -> {t.new} ({t.reason})"


def _finish(lines: list[str], origin: Origin) -> str:
    lines += ["", f"Sent by SimpleFailover instance {origin.instance} on host {origin.host}."]
    return "\n".join(lines) + "\n"


def _node(config: Config, node_id: str) -> str:
    try:
        node = config.node(node_id)
    except KeyError:
        return f"{node_id} (no longer configured)"
    return f"{node.id} ({node.address}, priority {node.priority})"


def _polling(config: Config, polling_id: str) -> str:
    try:
        return f"{polling_id} ({config.polling(polling_id).method})"
    except KeyError:
        return polling_id or "-"


def _fqdns_of(config: Config, polling_id: str) -> list[str]:
    return [config.fqdn(h) for h in config.hostnames if h.polling == polling_id]


def _polling_of(config: Config, fqdn: str) -> str:
    return next((h.polling for h in config.hostnames if config.fqdn(h) == fqdn), "")


def _answers(config: Config, table: AnswerTable, fqdns: Sequence[str]) -> list[str]:
    """The current DNS answer of each hostname named."""
    if not fqdns:
        return ["DNS now: no hostname follows this polling."]
    out = [f"DNS now (serial {table.serial}):"]
    for fqdn in fqdns:
        answer = table.answers.get(fqdn)
        if answer is None:
            out.append(f"  {fqdn} -> (not answered)")
            continue
        addresses = ", ".join(answer.addresses) or "(no address)"
        nodes = ", ".join(answer.node_ids)
        down = "  [ALL DOWN]" if answer.all_down else ""
        out.append(f"  {fqdn} -> {addresses}" + (f" ({nodes})" if nodes else "") + down)
    return out
