"""What the dashboard's views need, attached to the app: the engine, metrics, clock, history, control.

Apart from the app factory (dashboard/__init__.py) so that the blueprints it registers import
this module, not the package that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app, request

from ..engine import Engine
from ..history import HistoryService
from ..metrics import Metrics

if TYPE_CHECKING:
    from ..control.service import ControlService

Clock = Callable[[], float]


@dataclass(frozen=True)
class DashboardContext:
    """What the views need, attached to the app (no module globals)."""

    engine: Engine
    metrics: Metrics
    clock: Clock
    history: HistoryService | None = None  # None: history off (or not wired, in tests)
    control: ControlService | None = None  # maintenance and pins (SF-11); None: not wired


def context() -> DashboardContext:
    """The engine, metrics and clock of the running app."""
    ctx: DashboardContext = current_app.extensions["simplefailover"]
    return ctx


def audit_trail(action: str) -> Callable[[str, str], None]:
    """For a dashboard action: a function recording (outcome, why) in the history's audit trail.

    The author is the request's authenticated user (REMOTE_USER) when there is one, else
    "dashboard"; the address is the client's. Call it in the request; the function it
    returns may be called later from any thread. Without history it does nothing.
    """
    history = context().history
    who = request.remote_user or "dashboard"
    from_addr = request.remote_addr or ""

    def record(outcome: str, why: str) -> None:
        if history is not None:
            history.audit(action, who, from_addr, why, new=outcome)

    return record
