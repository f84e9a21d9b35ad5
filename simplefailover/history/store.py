"""The history database: one SQLite file (WAL) with events, time spans and latency buckets.

Only the history writer thread writes; the dashboard and `simplefailover events` read
through their own connections (WAL lets them read while it writes). The file stays
under `history.max_mb` (database plus write-ahead log) and `history.max_age_days`:
`prune` deletes the oldest rows first and gives the pages back to the file system.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, History

FILE = "history.db"
MINUTE, FIVE_MINUTES, HOUR = 60, 300, 3600
MINUTE_KEEP = 2 * 86400  # figures finer than an hour feed the hour and day pictures only
WAL_PAGES = 100  # checkpoint the write-ahead log every ~400 kB

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    node TEXT NOT NULL DEFAULT '',
    polling TEXT NOT NULL DEFAULT '',
    hostname TEXT NOT NULL DEFAULT '',
    old TEXT NOT NULL DEFAULT '',
    new TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    who TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, at);
CREATE TABLE IF NOT EXISTS spans(
    res INTEGER NOT NULL, track TEXT NOT NULL, state TEXT NOT NULL, start INTEGER NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY(res, start, track, state)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latency(
    res INTEGER NOT NULL, node TEXT NOT NULL, polling TEXT NOT NULL, start INTEGER NOT NULL,
    n INTEGER NOT NULL, total REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY(res, start, node, polling)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the history: a transition, a mail or webhook, an audit entry, an alarm."""

    at: float
    kind: str
    old: str = ""
    new: str = ""
    reason: str = ""
    node: str = ""
    polling: str = ""
    hostname: str = ""
    who: str = ""  # audit: the author of the action
    origin: str = ""  # audit: where it came from (address)
    data: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, times as epoch seconds (`at`) and UTC ISO 8601 (`time`)."""
        from ..dashboard.view import iso_time

        return {
            "id": self.id,
            "at": round(self.at, 3),
            "time": iso_time(self.at),
            "kind": self.kind,
            "node": self.node,
            "polling": self.polling,
            "hostname": self.hostname,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
            "who": self.who,
            "from": self.origin,
            "data": dict(self.data),
        }


Track = str  # "c\tNODE\tPOLLING" (a check) or "h\tFQDN" (a hostname's answer)
SpanKey = tuple[int, Track, str, int]  # (resolution, track, state, bucket start)
LatencyKey = tuple[int, str, str, int]  # (resolution, node, polling, bucket start)
LatencyCell = list[float]  # [n, total, low, high, failures]


def check_track(node: str, polling: str) -> Track:
    return f"c\t{node}\t{polling}"


def host_track(fqdn: str) -> Track:
    return f"h\t{fqdn}"


def default_path(config: Config, config_path: str | os.PathLike[str] | None) -> Path:
    """Where the history of the service run with this config is kept.

    history.state_dir/history.db when set; else a file named after the config file's
    path (two services on one host never share one) in $STATE_DIRECTORY (systemd's
    StateDirectory=), /var/lib/simplefailover as root, or $XDG_STATE_HOME/simplefailover.
    """
    settings: History = config.history
    if settings.state_dir is not None:
        return settings.state_dir / FILE
    if os.environ.get("STATE_DIRECTORY"):
        base = Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    elif os.geteuid() == 0:
        base = Path("/var/lib/simplefailover")
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "simplefailover"
    where = str(Path(config_path).resolve()) if config_path else config.source
    return base / f"history-{hashlib.sha256(where.encode()).hexdigest()[:12]}.db"


def connect(path: Path, write: bool = False) -> sqlite3.Connection:
    """Open the database; the writer creates it (0600) with its schema, readers only read."""
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch(mode=0o600)
        # A short busy wait: a write that finds the file locked is kept and tried at the next flush.
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=0.5)
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes on a new file: before the schema
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        db.execute(f"PRAGMA journal_size_limit={WAL_PAGES * 4096}")
        db.executescript(SCHEMA)
        return db
    if not path.exists():
        raise FileNotFoundError(f"no history at {path} (has `simplefailover run` recorded any yet?)")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA query_only=1")
    return db


def write(
    db: sqlite3.Connection,
    events: Sequence[Event],
    spans: Mapping[SpanKey, float],
    latency: Mapping[LatencyKey, LatencyCell],
) -> None:
    """One transaction: new events, time added to spans, latency folded into buckets."""
    db.execute("BEGIN")
    try:
        db.executemany(
            "INSERT INTO events(at, kind, node, polling, hostname, old, new, reason, who, origin, data)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    e.at,
                    e.kind,
                    e.node,
                    e.polling,
                    e.hostname,
                    e.old,
                    e.new,
                    e.reason,
                    e.who,
                    e.origin,
                    json.dumps(e.data, separators=(",", ":")) if e.data else "",
                )
                for e in events
            ],
        )
        db.executemany(
            "INSERT INTO spans(res, track, state, start, seconds) VALUES (?,?,?,?,?)"
            " ON CONFLICT(res, start, track, state) DO UPDATE SET seconds = seconds + excluded.seconds",
            [(res, track, state, start, seconds) for (res, track, state, start), seconds in spans.items()],
        )
        db.executemany(
            "INSERT INTO latency(res, node, polling, start, n, total, low, high, failures)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(res, start, node, polling) DO UPDATE SET"
            " n = n + excluded.n, total = total + excluded.total,"
            " low = CASE WHEN excluded.n = 0 THEN low WHEN n = 0 THEN excluded.low"
            " ELSE min(low, excluded.low) END,"
            " high = max(high, excluded.high), failures = failures + excluded.failures",
            [(res, node, polling, start, *cell) for (res, node, polling, start), cell in latency.items()],
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def size_bytes(path: Path) -> int:
    """The database and its write-ahead log on disk."""
    total = 0
    for name in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += name.stat().st_size
    return total


def _used(db: sqlite3.Connection) -> int:
    pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages) * int(db.execute("PRAGMA page_size").fetchone()[0])


def prune(db: sqlite3.Connection, now: float, max_age_days: float, max_mb: float) -> int:
    """Delete what is too old, then the oldest until the data fits; return the events deleted."""
    oldest = now - max_age_days * 86400
    deleted = db.execute("DELETE FROM events WHERE at < ?", (oldest,)).rowcount
    db.execute(
        "DELETE FROM spans WHERE (res < ? AND start < ?) OR start < ?", (HOUR, now - MINUTE_KEEP, oldest)
    )
    db.execute(
        "DELETE FROM latency WHERE (res < ? AND start < ?) OR start < ?", (HOUR, now - MINUTE_KEEP, oldest)
    )
    # The log holds up to WAL_PAGES pages besides the data, and a prune's own changes until
    # its checkpoint: small slices, each checkpointed, keep those small.
    budget = max_mb * 1e6 * 0.7 - WAL_PAGES * 4096
    for _ in range(200):
        if _used(db) <= budget * 0.9:
            break
        count = db.execute("SELECT count(*) FROM events").fetchone()[0]
        if count > 100:  # the events are what a storm grows: drop the oldest twentieth
            cut = db.execute("SELECT id FROM events ORDER BY id LIMIT 1 OFFSET ?", (count // 20,))
            deleted += db.execute("DELETE FROM events WHERE id < ?", (cut.fetchone()[0],)).rowcount
        else:  # then the oldest figures, six hours at a time
            for table in ("spans", "latency"):
                first = db.execute(f"SELECT min(start) FROM {table}").fetchone()[0]
                if first is not None:
                    db.execute(f"DELETE FROM {table} WHERE start < ?", (first + 6 * HOUR,))
        db.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page only
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.executescript("PRAGMA incremental_vacuum;")
    return deleted


def _event(row: Sequence[Any]) -> Event:
    data = json.loads(row[11]) if row[11] else {}
    return Event(
        row[1], row[2], row[6], row[7], row[8], row[3], row[4], row[5], row[9], row[10], data, row[0]
    )


def events(
    db: sqlite3.Connection,
    since: float | None = None,
    until: float | None = None,
    node: str | None = None,
    kinds: Iterable[str] | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[Event]:
    """Events in a time range, oldest first (or the newest `limit` of them, newest first)."""
    where: list[str] = ["1"]
    args: list[object] = []
    if since is not None:
        where.append("at >= ?")
        args.append(since)
    if until is not None:
        where.append("at < ?")
        args.append(until)
    if node:
        where.append("node = ?")
        args.append(node)
    kinds = list(kinds or ())
    if kinds:
        where.append(f"kind IN ({','.join('?' * len(kinds))})")
        args.extend(kinds)
    order = "DESC" if newest_first else "ASC"
    sql = (
        "SELECT id, at, kind, node, polling, hostname, old, new, reason, who, origin, data FROM events"
        f" WHERE {' AND '.join(where)} ORDER BY at {order}, id {order}"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_event(row) for row in db.execute(sql, args)]


def last_states(db: sqlite3.Connection, kind: str) -> dict[tuple[str, str, str], Event]:
    """The latest event of a kind per (node, polling, hostname)."""
    rows = db.execute(
        "SELECT id, at, kind, node, polling, hostname, old, new, reason, who, origin, data FROM events"
        " WHERE id IN (SELECT max(id) FROM events WHERE kind = ? GROUP BY node, polling, hostname)",
        (kind,),
    )
    return {(e.node, e.polling, e.hostname): e for e in map(_event, rows)}


def span_columns(
    db: sqlite3.Connection, res: int, start: float, step: int, columns: int
) -> dict[Track, list[dict[str, float]]]:
    """Seconds per state for each track, summed into `columns` columns of `step` seconds from start.

    Read as stored (no GROUP BY: the pictures read buckets as wide as their columns).
    """
    out: dict[Track, list[dict[str, float]]] = {}
    rows = db.execute(
        "SELECT track, state, start, seconds FROM spans WHERE res = ? AND start >= ? AND start < ?",
        (res, start, start + step * columns),
    )
    for track, state, bucket, seconds in rows:
        cells = out.get(track)
        if cells is None:
            cells = out[track] = [{} for _ in range(columns)]
        cell = cells[int((bucket - start) // step)]
        cell[state] = cell.get(state, 0.0) + seconds
    return out


def latency_columns(
    db: sqlite3.Connection, res: int, start: float, step: int, columns: int
) -> dict[tuple[str, str], list[LatencyCell | None]]:
    """Latency [n, total, low, high, failures] per check, in `columns` columns of `step` seconds."""
    out: dict[tuple[str, str], list[LatencyCell | None]] = {}
    rows = db.execute(
        "SELECT node, polling, start, n, total, low, high, failures FROM latency"
        " WHERE res = ? AND start >= ? AND start < ?",
        (res, start, start + step * columns),
    )
    for node, polling, bucket, n, total, low, high, failures in rows:
        cells = out.get((node, polling))
        if cells is None:
            cells = out[(node, polling)] = [None] * columns
        col = int((bucket - start) // step)
        cell = cells[col]
        if cell is None:
            cells[col] = [n, total, low, high, failures]
        else:  # several buckets in one column
            if n and (not cell[0] or low < cell[2]):
                cell[2] = low
            cell[0] += n
            cell[1] += total
            cell[3] = max(cell[3], high)
            cell[4] += failures
    return out


def span_rows(db: sqlite3.Connection, res: int, start: float) -> list[tuple[Track, str, int, float]]:
    """(track, state, bucket start, seconds) of every bucket from `start` on."""
    return list(
        db.execute(
            "SELECT track, state, start, seconds FROM spans WHERE res = ? AND start >= ?", (res, start)
        )
    )
