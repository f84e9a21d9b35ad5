"""The shared strategy's PostgreSQL driver, an optional extra (`simplefailover[postgres]`).

Only the shared strategy's modules import this one, and only when a command or the HA page
works with a shared cluster: without the extra every other command runs, and a shared one
says what to install instead of a ModuleNotFoundError.
"""

from __future__ import annotations

from ..core.errors import ClusterSyncError

NEEDS_DRIVER = (
    "strategy shared needs the PostgreSQL driver (psycopg), which is not installed here: "
    "install simplefailover[postgres] (pip install 'simplefailover[postgres]')"
)

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the wheel test and test_packaging
    if exc.name is None or not exc.name.startswith("psycopg"):
        raise
    raise ClusterSyncError(NEEDS_DRIVER) from None

__all__ = ["NEEDS_DRIVER", "conninfo_to_dict", "make_conninfo", "psycopg"]
