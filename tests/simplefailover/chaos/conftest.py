"""The network bed is one per host (namespaces sf20-*, the lock /run/lock/sf20-chaos-bed.lock).

A drill refuses to start while another holds the bed (a clear error, as it should for a
person running `make chaos`), so a test run and another run's bed tests, or a `make chaos`
someone runs meanwhile, failed each other. Tests that build the bed take `bed_to_ourselves`
first: it holds the tests' own lock (a second test run waits there), then waits for a drill
outside the tests to give the bed back (`make chaos` runs 5 minutes), bounded by BED_WAIT.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplefailover.chaos.netbed import LOCK as BED_LOCK

TESTS_LOCK = Path("/run/lock/sf20-chaos-tests.lock")
BED_WAIT = 360.0  # seconds: longer than a `make chaos` (300 s) and its set-up
# The bed tests' own pytest timeouts add BED_WAIT to what the test itself may take.


def bed_is_free() -> bool:
    """Whether no drill holds the bed right now (its lock taken and given back at once)."""
    BED_LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(BED_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing gives the lock back
    return True


@pytest.fixture
def bed_to_ourselves() -> Iterator[None]:
    """Hold the tests' lock on the network bed for the test, once no other drill holds the bed."""
    TESTS_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with TESTS_LOCK.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another test run's bed test: wait for it
        deadline = time.monotonic() + BED_WAIT
        while not bed_is_free():
            if time.monotonic() > deadline:
                pytest.fail(f"a network drill outside the tests has held {BED_LOCK} for {BED_WAIT:g} s")
            time.sleep(1)
        yield
