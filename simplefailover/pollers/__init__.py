"""Pollers: one per method, each turning a node into a PollResult."""

from __future__ import annotations

from typing import Protocol

from ..config import AnyPolling, CommandPolling, DnsPolling, HttpPolling, Node, SipPolling
from .command import CommandPoller
from .dnsq import DnsPoller
from .http import HttpPoller
from .result import PollResult
from .sip import SipPoller
from .tcp import TcpPoller

__all__ = [
    "CommandPoller",
    "DnsPoller",
    "HttpPoller",
    "PollResult",
    "Poller",
    "SipPoller",
    "TcpPoller",
    "poller_for",
]


class Poller(Protocol):
    def check(self, node: Node) -> PollResult: ...


def poller_for(polling: AnyPolling) -> Poller:
    """The poller for a polling's method."""
    if isinstance(polling, HttpPolling):
        return HttpPoller(polling)
    if isinstance(polling, SipPolling):
        return SipPoller(polling)
    if isinstance(polling, DnsPolling):
        return DnsPoller(polling)
    if isinstance(polling, CommandPolling):
        return CommandPoller(polling)
    return TcpPoller(polling)
