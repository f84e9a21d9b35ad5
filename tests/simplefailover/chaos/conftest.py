"""The network bed is one per host (namespaces sf20-*, the lock /run/lock/sf20-chaos-bed.lock).

A drill refuses to start while another holds the bed (a clear error, as it should for a
person running `make chaos`), so two test runs at once (another checkout, another CI job)
failed each other's bed tests. Tests that build the bed take `bed_to_ourselves` first: a
second run waits there until the first one's bed test is over.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_LOCK = Path("/run/lock/sf20-chaos-tests.lock")


@pytest.fixture
def bed_to_ourselves() -> Iterator[None]:
    """Hold the tests' lock on the network bed for the test (wait for another run's test)."""
    TESTS_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with TESTS_LOCK.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield
