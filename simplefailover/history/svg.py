"""Inline SVG pictures of the history, drawn on the server (the page needs no JavaScript).

Every width is proportional to time: in an availability band, the OK rectangles' widths
add up to the OK seconds times the scale, so the percentage read off the picture is the
one computed from the store. Element counts are bounded by the number of columns,
whatever the number of transitions (a flapping minute is drawn as its share of OK and KO).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

from .store import LatencyCell
from .timeline import Failover

WIDTH = 600
BAND_HEIGHT = 16
SPARK_HEIGHT = 28
MARK = 2.0  # KO or MAINT narrower than this (a few minutes in a week) also gets a tick this wide
COLOURS = {"OK": "#2e8540", "KO": "#c62828", "MAINT": "#6a5acd", "UNKNOWN": "#b0b0b0"}
ORDER = ("OK", "MAINT", "KO", "UNKNOWN")


def _n(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _shares(cell: Mapping[str, float], step: int) -> dict[str, float]:
    """Seconds per state in one column, the rest as "" (no data); never more than the column."""
    if len(cell) == 1:
        for state, length in cell.items():
            if length >= step:
                return {state: float(step)}
    out: dict[str, float] = {}
    used = 0.0
    for state in sorted(cell, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER)):
        length = min(cell[state], step - used)
        if length > 0:
            out[state] = length
            used += length
    if used < step:
        out[""] = step - used
    return out


def band(
    columns: Sequence[Mapping[str, float]], start: float, step: int, label: str, now: float | None = None
) -> Markup:
    """An availability band: one rectangle per run of a state, width proportional to its time."""
    scale = WIDTH / (step * len(columns))
    states: list[str] = []  # runs of one state ("" = no data), with their seconds
    seconds: list[float] = []

    def add(state: str, length: float) -> None:
        if states and states[-1] == state:
            seconds[-1] += length
        else:
            states.append(state)
            seconds.append(length)

    every = [_shares(cell, step) for cell in columns]
    for index, shares in enumerate(every):
        if len(shares) == 1:  # the common case: one state the whole column
            for state, length in shares.items():
                add(state, length)
            continue
        # Inside a column only the shares are known ("" = no data: service stopped, not
        # checked yet, the future): continue the run on the left first, end with what the
        # next column starts with, so that each change is drawn as one edge.
        following = every[index + 1] if index + 1 < len(every) else {}
        previous = states[-1] if states else ""

        def place(
            state: str, previous: str = previous, following: Mapping[str, float] = following
        ) -> tuple[int, int]:
            rank = 0 if state == previous else 2 if state in following else 1
            return (rank, ORDER.index(state) if state in ORDER else len(ORDER))

        for state in sorted(shares, key=place):
            add(state, shares[state])
    parts = [
        f'<svg class="band" viewBox="0 0 {WIDTH} {BAND_HEIGHT}" preserveAspectRatio="none"'
        f' role="img" data-start="{_n(start)}" data-step="{step}" data-columns="{len(columns)}"'
        f' data-scale="{scale!r}"><title>{escape(label)}</title>',
        f'<rect class="nodata" x="0" y="0" width="{WIDTH}" height="{BAND_HEIGHT}" fill="#f1f1f1"/>',
    ]
    x = 0.0
    marks = []
    for state, length in zip(states, seconds, strict=True):
        width = length * scale
        if state:
            colour = COLOURS.get(state, COLOURS["UNKNOWN"])
            parts.append(
                f'<rect class="{state.lower()}" x="{_n(x)}" y="0" width="{_n(width)}"'
                f' height="{BAND_HEIGHT}" fill="{colour}" data-seconds="{_n(length)}"/>'
            )
            if state in ("KO", "MAINT") and width < MARK:  # too thin to see: a tick above it
                centre = min(max(x + width / 2, MARK / 2), WIDTH - MARK / 2)
                marks.append(
                    f'<rect class="mark" x="{_n(centre - MARK / 2)}" y="0" width="{MARK}" height="4"'
                    f' fill="{colour}"/>'
                )
        x += width
    parts += marks
    if now is not None and start <= now <= start + step * len(columns):
        at = (now - start) * scale
        parts.append(
            f'<line class="now" x1="{_n(at)}" x2="{_n(at)}" y1="0" y2="{BAND_HEIGHT}" stroke="#000"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(cells: Sequence[LatencyCell | None], label: str) -> Markup:
    """Average latency per column as a line, min-max as a shaded area; gaps where nothing was measured."""
    values = [(i, c) for i, c in enumerate(cells) if c is not None and c[0] > 0]
    head = (
        f'<svg class="spark" viewBox="0 0 {WIDTH} {SPARK_HEIGHT}" preserveAspectRatio="none" role="img">'
        f"<title>{escape(label)}</title>"
    )
    if not values:
        return Markup(head + "</svg>")
    top = max(c[3] for _, c in values) or 1.0
    dx = WIDTH / len(cells)

    ratio = (SPARK_HEIGHT - 2) / top

    def y(v: float) -> str:
        return f"{SPARK_HEIGHT - 1 - ratio * v:.1f}"

    line, area = [], []
    previous = -2
    run: list[tuple[int, LatencyCell]] = []
    for i, c in [*values, (-5, None)]:
        if i != previous + 1 and run:
            xs = [f"{(j + 0.5) * dx:.1f}" for j, _ in run]
            line.append("M" + " L".join(f"{x} {y(r[1] / r[0])}" for x, (_, r) in zip(xs, run, strict=True)))
            upper = [f"{x},{y(r[3])}" for x, (_, r) in zip(xs, run, strict=True)]
            lower = [f"{x},{y(r[2])}" for x, (_, r) in zip(xs, run, strict=True)]
            area.append(" ".join(upper + lower[::-1]))
            run = []
        if c is not None:
            run.append((i, c))
        previous = i
    out = [head]
    out += [f'<polygon class="range" points="{p}" fill="#bcd4ec"/>' for p in area]
    out.append(f'<path class="avg" d="{" ".join(line)}" fill="none" stroke="#1f5f9f" stroke-width="1"/>')
    out.append("</svg>")
    return Markup("".join(out))


def failover(f: Failover) -> Markup:
    """A failover's steps on a time axis, one label a line: first check, agreed, DNS, caches expired."""
    steps = f.steps
    t0, t1 = steps[0][1], steps[-1][1]
    span = max(t1 - t0, 1e-3)
    left, right, axis = 8.0, WIDTH - 8.0, 10
    height = 20 + 14 * len(steps)

    def x_of(at: float) -> float:
        return left + (at - t0) / span * (right - left)

    parts = [
        f'<svg class="failover" viewBox="0 0 {WIDTH} {height}" role="img">'
        f"<title>{escape(f.hostname)}: {escape(f.old)} to {escape(f.new)}</title>",
        f'<rect x="{_n(x_of(f.dns))}" y="{axis - 3}" height="6"'
        f' width="{_n(x_of(f.caches_expire) - x_of(f.dns))}"'
        f' fill="#f0c36d"><title>resolvers may still answer {escape(f.old)} (TTL {f.ttl} s)</title></rect>',
        f'<line x1="{left}" x2="{right}" y1="{axis}" y2="{axis}" stroke="#555"/>',
    ]
    for i, (label, at) in enumerate(steps):
        x, y = x_of(at), 24 + 14 * i
        anchor, dx = ("start", 4) if x < WIDTH * 0.6 else ("end", -4)
        text = f"{label}: +{at - t0:.1f} s ({time.strftime('%H:%M:%S', time.localtime(at))})"
        parts.append(
            f'<g class="step" data-step="{escape(label)}" data-at="{_n(at)}">'
            f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{axis}" y2="{y - 4}" stroke="#9ab"/>'
            f'<circle cx="{_n(x)}" cy="{axis}" r="3.5" fill="#1f5f9f"/>'
            f'<text x="{_n(x + dx)}" y="{y}" font-size="11" text-anchor="{anchor}">{escape(text)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
