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
COLOURS = {"OK": "#2e8540", "KO": "#c62828", "MAINT": "#6a5acd", "UNKNOWN": "#b0b0b0"}
ORDER = ("OK", "MAINT", "KO", "UNKNOWN")


def _n(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


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

    for cell in columns:
        used = 0.0
        for state in sorted(cell, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER)):
            length = min(cell[state], step - used)
            if length > 0:
                used += length
                add(state, length)
        if used < step:  # no data (service stopped, not checked yet, the future)
            add("", step - used)
    parts = [
        f'<svg class="band" viewBox="0 0 {WIDTH} {BAND_HEIGHT}" preserveAspectRatio="none"'
        f' role="img" data-start="{_n(start)}" data-step="{step}" data-columns="{len(columns)}"'
        f' data-scale="{scale!r}"><title>{escape(label)}</title>',
        f'<rect class="nodata" x="0" y="0" width="{WIDTH}" height="{BAND_HEIGHT}" fill="#f1f1f1"/>',
    ]
    x = 0.0
    for state, length in zip(states, seconds, strict=True):
        width = length * scale
        if state:
            colour = COLOURS.get(state, COLOURS["UNKNOWN"])
            parts.append(
                f'<rect class="{state.lower()}" x="{_n(x)}" y="0" width="{_n(width)}"'
                f' height="{BAND_HEIGHT}" fill="{colour}" data-seconds="{_n(length)}"/>'
            )
        x += width
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

    def y(v: float) -> str:
        return _n(SPARK_HEIGHT - 1 - (SPARK_HEIGHT - 2) * v / top)

    line, area = [], []
    previous = -2
    run: list[tuple[int, LatencyCell]] = []
    for i, c in [*values, (-5, None)]:
        if i != previous + 1 and run:
            xs = [_n((j + 0.5) * dx) for j, _ in run]
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
    """A failover's steps on a time axis: first check, agreed, DNS changed, caches expired."""
    steps = f.steps
    t0, t1 = steps[0][1], steps[-1][1]
    span = max(t1 - t0, 1e-3)
    left, right, height = 10.0, WIDTH - 10.0, 64
    parts = [
        f'<svg class="failover" viewBox="0 0 {WIDTH} {height}" role="img">'
        f"<title>{escape(f.hostname)}: {escape(f.old)} to {escape(f.new)}</title>",
        f'<line x1="{left}" x2="{right}" y1="32" y2="32" stroke="#555"/>',
        f'<rect x="{_n(left + (f.dns - t0) / span * (right - left))}" y="28"'
        f' width="{_n((f.caches_expire - f.dns) / span * (right - left))}" height="8" fill="#f0c36d">'
        f"<title>resolvers may still answer {escape(f.old)} (TTL {f.ttl} s)</title></rect>",
    ]
    for i, (label, at) in enumerate(steps):
        x = left + (at - t0) / span * (right - left)
        ty = 20 if i % 2 == 0 else 54
        anchor = "start" if x < WIDTH * 0.25 else "end" if x > WIDTH * 0.75 else "middle"
        text = f"{label} +{at - t0:.1f} s ({time.strftime('%H:%M:%S', time.localtime(at))})"
        parts.append(
            f'<g class="step" data-step="{escape(label)}" data-at="{_n(at)}">'
            f'<circle cx="{_n(x)}" cy="32" r="4" fill="#1f5f9f"/>'
            f'<text x="{_n(x)}" y="{ty}" font-size="11" text-anchor="{anchor}">{escape(text)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
