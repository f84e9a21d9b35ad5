"""One (node, polling) check as a row: what `simplefailover check` prints and the dashboard shows.

Pure: built from a check's state and the time, no I/O. The dashboard builds its rows from the
engine's snapshot (dashboard/view.py), `check` from the one round it polled (ops/check.py);
both read the same fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import Config, Node, Polling
from .pollers.certs import days_left
from .state import Answer, CheckKey, CheckState, Status


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One (node, polling) pair: the table's row."""

    priority: int
    node_id: str
    address: str
    polling_id: str
    method: str
    hostnames: tuple[str, ...]  # fully qualified names bound to this polling
    serving: tuple[str, ...]  # those of them this node answers for right now
    status: str  # OK | KO | UNKNOWN
    since: float | None
    last_check: float | None
    latency_ms: float | None
    error: str
    successes: int
    failures: int
    cert_expires: float | None = None  # TLS checks: the certificate's notAfter (Unix time)
    cert_days_left: float | None = None
    cert_warning: bool = False  # fewer days left than monitoring.cert_warning_days
    maintenance: bool = False  # the node is in maintenance: shown as MAINT, never chosen (SF-11)


def check_row(
    node: Node,
    polling: Polling,
    state: CheckState,
    now: float,
    cert_warning_days: float,
    hostnames: Sequence[str] = (),
    serving: Sequence[str] = (),
    maintenance: bool = False,
) -> CheckRow:
    """The row of one check in this state; certificate days are counted from now."""
    last = state.last
    expires = last.cert_not_after if last else None
    left = None if expires is None else round(days_left(expires, now), 1)
    return CheckRow(
        priority=node.priority,
        node_id=node.id,
        address=str(node.address),
        polling_id=polling.id,
        method=polling.method,
        hostnames=tuple(hostnames),
        serving=tuple(serving),
        status=state.status.value,
        since=state.since if state.status is not Status.UNKNOWN else None,
        last_check=last.at if last else None,
        latency_ms=round(last.latency * 1000, 3) if last else None,
        error=last.error if last else "",
        successes=state.successes,
        failures=state.failures,
        cert_expires=expires,
        cert_days_left=left,
        cert_warning=left is not None and left < cert_warning_days,
        maintenance=maintenance,
    )


def bound_hostnames(config: Config) -> dict[str, tuple[str, ...]]:
    """Polling id -> the fully qualified hostnames bound to it, in config order."""
    bound: dict[str, tuple[str, ...]] = {}
    for hostname in config.hostnames:
        bound[hostname.polling] = (*bound.get(hostname.polling, ()), config.fqdn(hostname))
    return bound


def serving_hostnames(config: Config, answers: Mapping[str, Answer]) -> dict[CheckKey, tuple[str, ...]]:
    """(node id, polling id) -> the hostnames of that polling this node is answered for now."""
    serving: dict[CheckKey, tuple[str, ...]] = {}
    for hostname in config.hostnames:
        fqdn = config.fqdn(hostname)
        answer = answers.get(fqdn)
        for node_id in answer.node_ids if answer else ():
            key = (node_id, hostname.polling)
            serving[key] = (*serving.get(key, ()), fqdn)
    return serving
