"""`simplefailover check`: poll every node once and say what DNS would answer."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..checkrow import CheckRow, bound_hostnames, check_row, serving_hostnames
from ..config import Config
from ..pollers import poller_for
from ..state import HealthBoard

# What `check`'s answers rest on: it polls from this host alone, whatever peers are configured.
BASIS = "alone"
BASIS_TEXT = "own checks (alone: `check` polls from this host and asks no peer)"


def poll_once(config: Config) -> tuple[list[CheckRow], HealthBoard]:
    """Run every check once, concurrently; return the rows and the resulting board."""
    pairs = [(p, n) for n in config.nodes for p in config.pollings]
    with ThreadPoolExecutor(max_workers=min(64, len(pairs))) as pool:
        results = list(pool.map(lambda pair: poller_for(pair[0]).check(pair[1]), pairs))
    board = HealthBoard(config)
    for (polling, node), result in zip(pairs, results, strict=True):
        board.observe(node.id, polling.id, result)
    bound = bound_hostnames(config)
    serving = serving_hostnames(config, board.table.answers)
    rows = [
        check_row(
            node,
            polling,
            board.checks[(node.id, polling.id)],
            result.at,  # certificate days as of the check, like the dashboard's as of now
            config.monitoring.cert_warning_days,
            hostnames=bound.get(polling.id, ()),
            serving=serving.get((node.id, polling.id), ()),
        )
        for (polling, node), result in zip(pairs, results, strict=True)
    ]
    return rows, board


def hostname_names(config: Config, polling_id: str) -> str:
    """The (short) names of the hostnames bound to a polling, comma-separated; "-" for none."""
    return ",".join(h.name for h in config.hostnames if h.polling == polling_id) or "-"


def render_table(config: Config, rows: list[CheckRow], board: HealthBoard) -> str:
    """The table a person reads, then the answer per hostname."""
    certs = any(r.cert_expires is not None for r in rows)  # a column only when there are some
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
            hostname_names(config, r.polling_id),
            r.status,
            "-" if r.latency_ms is None else f"{r.latency_ms:.1f} ms",
            *((_cert_cell(r),) if certs else ()),
            r.error or "-",
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


def _cert_cell(row: CheckRow) -> str:
    if row.cert_days_left is None:
        return "-"
    return f"{row.cert_days_left:.0f} days" + (" (!)" if row.cert_warning else "")


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
                "hostnames": hostname_names(config, r.polling_id).split(","),
                "status": r.status,
                "latency_ms": r.latency_ms,
                "error": r.error,
                "cert_days_left": r.cert_days_left,
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
