"""`simplefailover check`: poll every node once and say what DNS would answer."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..pollers import poller_for
from ..pollers.certs import days_left
from ..pollers.result import PollResult
from ..state import HealthBoard

# What `check`'s answers rest on: it polls from this host alone, whatever peers are configured.
BASIS = "alone"
BASIS_TEXT = "own checks (alone: `check` polls from this host and asks no peer)"


@dataclass(frozen=True)
class CheckRow:
    priority: int
    node_id: str
    address: str
    polling_id: str
    method: str
    hostnames: str
    result: PollResult


def poll_once(config: Config) -> tuple[list[CheckRow], HealthBoard]:
    """Run every check once, concurrently; return the rows and the resulting board."""
    pairs = [(p, n) for n in config.nodes for p in config.pollings]
    with ThreadPoolExecutor(max_workers=min(64, len(pairs))) as pool:
        results = list(pool.map(lambda pair: poller_for(pair[0]).check(pair[1]), pairs))
    board = HealthBoard(config)
    rows = []
    for (polling, node), result in zip(pairs, results, strict=True):
        board.observe(node.id, polling.id, result)
        names = ",".join(h.name for h in config.hostnames if h.polling == polling.id) or "-"
        rows.append(
            CheckRow(node.priority, node.id, str(node.address), polling.id, polling.method, names, result)
        )
    return rows, board


def cert_days(result: PollResult) -> float | None:
    """Days left on the TLS certificate the check saw, to one decimal; None without one."""
    if result.cert_not_after is None:
        return None
    return round(days_left(result.cert_not_after, result.at), 1)


def render_table(config: Config, rows: list[CheckRow], board: HealthBoard) -> str:
    """The table a person reads, then the answer per hostname."""
    certs = any(r.result.cert_not_after is not None for r in rows)  # a column only when there are some
    header: tuple[str, ...] = (
        "PRIO",
        "NODE",
        "ADDRESS",
        "POLLING",
        "METHOD",
        "HOSTNAME",
        "STATUS",
        "LATENCY",
    )
    header += ("CERT", "ERROR") if certs else ("ERROR",)
    lines = [header] + [
        (
            str(r.priority),
            r.node_id,
            r.address,
            r.polling_id,
            r.method,
            r.hostnames,
            r.result.status,
            f"{r.result.latency * 1000:.1f} ms",
            *((_cert_cell(r.result, config),) if certs else ()),
            r.result.error or "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)) + "  " + line[-1]
        for line in lines
    ]
    out.append("")
    out.append(f"zone {config.zone.name}, serial {board.table.serial}")
    for fqdn, answer in board.table.answers.items():
        shown = ", ".join(answer.addresses) or "(no address)"
        flag = "  [ALL DOWN]" if answer.all_down else ""
        out.append(f"{fqdn} -> {shown}{flag}  ({answer.reason}; {BASIS_TEXT})")
    return "\n".join(out)


def _cert_cell(result: PollResult, config: Config) -> str:
    days = cert_days(result)
    if days is None:
        return "-"
    return f"{days:.0f} days" + (" (!)" if days < config.monitoring.cert_warning_days else "")


def as_json(
    config: Config, rows: list[CheckRow], board: HealthBoard, delegation: dict[str, Any] | None = None
) -> str:
    """The same data as JSON."""
    data: dict[str, Any] = {
        "zone": config.zone.name,
        "checks": [
            {
                "priority": r.priority,
                "node": r.node_id,
                "address": r.address,
                "polling": r.polling_id,
                "method": r.method,
                "hostnames": r.hostnames.split(","),
                "status": r.result.status,
                "latency_ms": round(r.result.latency * 1000, 3),
                "error": r.result.error,
                "cert_days_left": cert_days(r.result),
            }
            for r in rows
        ],
        "answers": {
            fqdn: {
                "addresses": list(a.addresses),
                "nodes": list(a.node_ids),
                "all_down": a.all_down,
                "reason": f"{a.reason}; {BASIS_TEXT}",
                "basis": BASIS,
            }
            for fqdn, a in board.table.answers.items()
        },
    }
    if delegation is not None:
        data["delegation"] = delegation
    return json.dumps(data, indent=2)


def exit_code(board: HealthBoard) -> int:
    """0 when every hostname has an OK node, 1 otherwise."""
    return 1 if any(a.all_down for a in board.table.answers.values()) else 0
