"""store/bulk.py: many rows written with few multi-row statements, as executemany writes them."""

from __future__ import annotations

import sqlite3

import pytest

from clustersync.store import bulk


def _table(width: int) -> tuple[sqlite3.Connection, str]:
    db = sqlite3.connect(":memory:")
    columns = ", ".join(f"c{i}" for i in range(width))
    db.execute(f"CREATE TABLE t (k INTEGER PRIMARY KEY, {columns})")
    return db, f"INSERT OR REPLACE INTO t (k, {columns}) "


@pytest.mark.parametrize(("width", "count"), [(1, 0), (1, 1), (2, 250), (9, 1001), (600, 5), (1200, 3)])
def test_rows_written_as_executemany_writes_them(width: int, count: int) -> None:
    """Every row in order (a key given twice: the later row wins), whatever the width: a
    statement holds at most 999 variables, so a wide row goes alone and one beyond 999
    columns is SQLite's own error, as with executemany (not checked here: the limit is
    32,766 in this SQLite)."""
    db, into = _table(width)
    rows = [(i % (count // 2 + 1), *(f"{i}-{j}" for j in range(width))) for i in range(count)]
    statements: list[int] = []

    def statement(n: int) -> str:
        statements.append(n)
        return into + bulk.values(width + 1, n)

    bulk.executemany(db, statement, rows)
    expected, _ = _table(width)
    expected.executemany(into + bulk.values(width + 1, 1), rows)
    assert (
        db.execute("SELECT * FROM t ORDER BY k").fetchall()
        == expected.execute("SELECT * FROM t ORDER BY k").fetchall()
    )
    per = max(1, min(bulk.ROWS, bulk.VARIABLES // (width + 1)))
    assert all(n in (1, per) for n in statements)
    assert per * (width + 1) <= bulk.VARIABLES or per == 1


@pytest.mark.parametrize(("refused", "written"), [(60, 0), (120, 120)])
def test_a_refused_row_undoes_its_whole_statement_only(refused: int, written: int) -> None:
    """A multi-row statement that fails writes none of its rows (row 60 of the first 100);
    the rows after the last full statement go one by one, as executemany writes them (row
    120: the 100 of the first statement and 100..119 stay). The caller (applying._run)
    undoes the run to its savepoint and writes it row by row."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    db.execute("INSERT INTO t VALUES (-1, 'taken')")
    rows = [(i, f"v{i}") for i in range(150)]
    rows[refused] = (refused, "taken")
    with pytest.raises(sqlite3.IntegrityError):
        bulk.executemany(db, lambda n: "INSERT INTO t (k, v) " + bulk.values(2, n), rows)
    assert db.execute("SELECT count(*) FROM t WHERE k >= 0").fetchone() == (written,)
