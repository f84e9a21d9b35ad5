"""Fixtures for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _history_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Services started by tests keep their default history (SF-6) under a temporary folder.

    Without history.state_dir, `simplefailover run` keeps it in $STATE_DIRECTORY (as
    systemd's StateDirectory= sets it), never in /var/lib; subprocesses inherit it.
    """
    folder = tmp_path_factory.mktemp("state")
    old = os.environ.get("STATE_DIRECTORY")
    os.environ["STATE_DIRECTORY"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("STATE_DIRECTORY", None)
    else:
        os.environ["STATE_DIRECTORY"] = old
