"""Pollers: one per method, each turning a node into a PollResult."""

from __future__ import annotations

from typing import Protocol

from ..config import HttpPolling, Node, TcpPolling
from .http import HttpPoller
from .result import PollResult
from .tcp import TcpPoller

__all__ = ["HttpPoller", "PollResult", "Poller", "TcpPoller", "poller_for"]


class Poller(Protocol):
    def check(self, node: Node) -> PollResult: ...


def poller_for(polling: HttpPolling | TcpPolling) -> Poller:
    """The poller for a polling's method."""
    if isinstance(polling, HttpPolling):
        return HttpPoller(polling)
    return TcpPoller(polling)
