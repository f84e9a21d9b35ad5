"""The persisted history (SPEC SF-6): events, audit trail, availability and latency over time."""

from __future__ import annotations

from .recorder import HistoryService
from .store import Event
from .store import default_path as history_path

__all__ = ["Event", "HistoryService", "history_path"]
