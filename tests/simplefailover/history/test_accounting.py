"""Time accounting and the availability band: what the picture shows adds up to the events."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from simplefailover.history import svg
from simplefailover.history.accounting import TimeAccount, split
from simplefailover.history.formats import parse_time
from simplefailover.history.store import check_track
from simplefailover.history.timeline import add_open, availability, totals

TRACK = check_track("node1", "web")
STATES = st.sampled_from(["OK", "KO", "MAINT"])
# (seconds after the previous change, new state)
CHANGES = st.lists(st.tuples(st.floats(0, 400, allow_nan=False), STATES), min_size=1, max_size=60)


def expected(start: float, changes: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds per state straight from the transitions."""
    out: dict[str, float] = {}
    at, state = start, None
    for gap, new in changes:
        if state is not None:
            out[state] = out.get(state, 0.0) + gap
        at += gap
        state = new
    assert state is not None
    out[state] = out.get(state, 0.0) + end - at
    return {k: v for k, v in out.items() if v > 0}


@given(CHANGES, st.floats(0, 500, allow_nan=False))
def test_time_per_state_adds_up_to_the_transitions(changes: list[tuple[float, str]], tail: float) -> None:
    account = TimeAccount()
    start = 1_800_000_000.0 + 17.5
    at = start
    for gap, state in changes:
        at += gap
        account.change(TRACK, state, at)
    end = at + tail
    account.advance(end)
    pending = account.take()
    for res in (60, 3600):
        got: dict[str, float] = {}
        for (r, _, state, bucket), seconds in pending.items():
            if r == res:
                got[state] = got.get(state, 0.0) + seconds
                assert bucket % res == 0 and 0 < seconds <= res + 1e-6
        first = start + changes[0][0]
        want = expected(first, [(0.0, changes[0][1]), *changes[1:]], end)
        for state in set(got) | set(want):
            assert abs(got.get(state, 0.0) - want.get(state, 0.0)) < 1e-6, state


@given(st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e5, allow_nan=False))
def test_split_covers_the_span_in_whole_buckets(start: float, length: float) -> None:
    parts = split(start, start + length, 60)
    assert abs(sum(s for _, s in parts) - length) < 1e-6
    assert all(b % 60 == 0 for b, _ in parts)


@given(CHANGES)
def test_band_widths_give_the_same_availability(changes: list[tuple[float, str]]) -> None:
    step, count = 60, 60
    start = 1_800_000_000 - 1_800_000_000 % step
    columns: list[dict[str, float]] = [{} for _ in range(count)]
    at = float(start)
    for index, (gap, state) in enumerate(changes):
        nxt = at + (changes[index + 1][0] if index + 1 < len(changes) else 900.0)
        add_open(columns, state, at, nxt, start, step)
        at = nxt
        del gap
    picture = str(svg.band(columns, start, step, "node1/web"))
    widths: dict[str, float] = {}
    for cls, width in re.findall(r'<rect class="(ok|ko|maint)" x="[^"]+" y="0" width="([^"]+)"', picture):
        widths[cls.upper()] = widths.get(cls.upper(), 0.0) + float(width)
    seconds = totals(columns)
    scale = svg.WIDTH / (step * count)
    for state, total in seconds.items():
        assert abs(widths.get(state, 0.0) - total * scale) < 0.01 * (1 + len(changes))
    from_band = availability({k: v / scale for k, v in widths.items()})
    from_time = availability(seconds)
    if seconds.get("OK", 0) + seconds.get("KO", 0) >= 60:  # widths are written to 1/1000 of a unit (6 ms)
        assert from_band is not None and from_time is not None
        assert abs(from_band - from_time) < 0.5


def test_a_flapping_column_is_drawn_as_its_shares_joining_its_neighbours() -> None:
    columns = [{"OK": 30.0, "KO": 30.0}, {"OK": 60.0}, {"OK": 20.0, "MAINT": 40.0}, {"MAINT": 60.0}]
    picture = str(svg.band(columns, 0, 60, "x"))
    drawn = re.findall(r'<rect class="(\w+)" x="([^"]+)" y="0" width="([^"]+)"', picture)
    # background, then KO, OK (its half of the first column and the next ones), MAINT to the end
    assert [(c, float(x), float(w)) for c, x, w in drawn] == [
        ("nodata", 0, 600),
        ("ko", 0, 75),
        ("ok", 75, 275),
        ("maint", 350, 250),
    ]


def test_times_people_write() -> None:
    now = 1_800_000_000.0
    assert parse_time("2h", now) == now - 7200
    assert parse_time("30m", now) == now - 1800
    assert parse_time("7d", now) == now - 7 * 86400
    assert parse_time("1799999000", now) == 1799999000
    assert parse_time("2027-01-15T03:00:00Z", now) == 1799982000
    for bad in ("yesterday", "", "2h30", "-5m"):
        try:
            parse_time(bad, now)
        except ValueError as exc:
            assert "not a time" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_a_short_outage_in_a_week_gets_a_visible_tick() -> None:
    columns: list[dict[str, float]] = [{"OK": 3600.0} for _ in range(168)]
    columns[100] = {"OK": 3300.0, "KO": 300.0}  # five minutes down
    picture = str(svg.band(columns, 0, 3600, "week"))
    [ko] = re.findall(r'<rect class="ko" x="[^"]+" y="0" width="([^"]+)"', picture)
    assert abs(float(ko) - 300 * svg.WIDTH / (3600 * 168)) < 0.001  # exact: the tick is apart
    assert picture.count('class="mark"') == 1
