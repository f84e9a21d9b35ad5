"""The agreement as the dashboard and `/api/status` show it: every view beside the agreed state. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..state import AnswerTable, CheckKey, CheckState, Status
from .consensus import AgreementState, answers_digest

BASIS = {
    "agreed": "answers follow the statuses agreed by a majority of the instances",
    "witness": "answers follow the statuses agreed by a majority of the instances,"
    " the witness breaking a tie",
    "kept": "no majority heard: keeping the last agreed answer of a hostname while its node is still seen OK",
    "heard": "no majority heard: answering from the checks of the instances heard",
    "alone": "no other instance heard: answering from this instance's own checks",
    "waiting": "just started: waiting to hear a majority of the instances",
}
SPLIT = {
    True: "the witness is not heard either: the instances on the other side decide with it",
    False: "without a witness, instances on the other side of a cut answer from what they see,"
    " which may be their own node (docs/agreement.md)",
}


@dataclass(frozen=True, slots=True)
class ViewRow:
    """One instance's latest view, this one included."""

    member: str
    heard: bool
    age: float | None  # seconds since its view arrived; 0 for this instance
    ready: bool
    isolated: bool
    serial: int
    same_answers: bool  # serves the same answers as this instance
    statuses: dict[CheckKey, Status]


def view_rows(
    state: AgreementState, checks: Mapping[CheckKey, CheckState], table: AnswerTable
) -> tuple[ViewRow, ...]:
    """Every member's view in member order, this instance's own checks included."""
    digest = answers_digest(table.answers) if table.ready else ""
    own = ViewRow(
        state.me,
        True,
        0.0,
        all(c.status is not Status.UNKNOWN for c in checks.values()),
        state.verdict.isolated,
        table.serial,
        True,
        {key: c.status for key, c in checks.items()},
    )
    views = {v.member: v for v in state.views}
    rows = []
    for member in state.members:
        if member == state.me:
            rows.append(own)
            continue
        view = views.get(member)
        if view is None:
            rows.append(ViewRow(member, False, None, False, False, 0, False, {}))
            continue
        age = max(0.0, state.at - view.received_at)
        rows.append(
            ViewRow(
                member,
                age <= state.stale_after,
                round(age, 3),
                view.ready,
                view.isolated,
                view.serial,
                bool(digest) and view.digest == digest,
                dict(view.statuses),
            )
        )
    return tuple(rows)


def agreement_json(
    state: AgreementState | None, checks: Mapping[CheckKey, CheckState], table: AnswerTable
) -> dict[str, Any] | None:
    """The `peers` member of `/api/status`; None when this instance decides alone."""
    if state is None:
        return None
    verdict = state.verdict
    return {
        "me": state.me,
        "members": list(state.members),
        "isolated": verdict.isolated,
        "quorum": verdict.quorum,
        "basis": state.basis,
        "basis_text": BASIS.get(state.basis, state.basis),
        "witness": verdict.witness,
        "split": SPLIT[verdict.witness is not None] if verdict.isolated else None,
        "sender": state.sender,
        "heard": list(verdict.heard),
        "voters": list(verdict.voters),
        "views": [
            {
                "member": row.member,
                "heard": row.heard,
                "age": row.age,
                "ready": row.ready,
                "isolated": row.isolated,
                "serial": row.serial,
                "same_answers": row.same_answers,
                "statuses": {f"{n}/{p}": s.value for (n, p), s in sorted(row.statuses.items())},
            }
            for row in view_rows(state, checks, table)
        ],
        "agreed": {
            f"{n}/{p}": {"status": status.value, "why": state.why.get((n, p), "")}
            for (n, p), status in sorted(verdict.statuses.items())
        },
    }
