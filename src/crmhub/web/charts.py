"""Charts drawn on the server as SVG (no script, no library): bars per run and a health strip.

Every text that goes into a chart (a job name, a status) is escaped; the charts carry a ``<title>``
and ``role="img"`` with an ``aria-label`` so screen readers read what they show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

#: Colour per kind of bar (high-contrast on white).
MOVED, ERRORS = "#1f5fa8", "#b3261e"
STATUS_COLOURS = {
    "succeeded": "#1e7b34",
    "succeeded_with_errors": "#9a6700",
    "failed": "#b3261e",
    "cancelled": "#5c5c5c",
    "running": "#1f5fa8",
    "queued": "#5c5c5c",
}


@dataclass(frozen=True)
class RunBar:
    """One run in a chart: its label (time), records moved, errors and status."""

    label: str
    moved: int
    errors: int
    status: str


def runs_chart(bars: Sequence[RunBar], *, title: str, width: int = 640, height: int = 180) -> Markup:
    """Records moved (blue) and errors (red) per run, oldest left; empty runs drawn as a tick."""
    if not bars:
        return Markup('<p class="muted">No runs yet.</p>')
    top = max(max(b.moved, b.errors) for b in bars) or 1
    pad_left, pad_bottom, pad_top = 48, 20, 10
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    slot = plot_w / len(bars)
    bar_w = min(24.0, max(2.0, slot / 2 - 2))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 8}" y2="{pad_top + plot_h}" stroke="#767676"/>',
        f'<text x="{pad_left - 6}" y="{pad_top + 8}" text-anchor="end" font-size="11">{top:,}</text>',
        f'<text x="{pad_left - 6}" y="{pad_top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, bar in enumerate(bars):
        x = pad_left + i * slot + 1
        for offset, value, colour, what in (
            (0.0, bar.moved, MOVED, "moved"),
            (bar_w + 1, bar.errors, ERRORS, "errors"),
        ):
            h = max(1.0, plot_h * value / top) if value else 1.0
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{pad_top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(bar.label)}: {value:,} {what} '
                f"({escape(bar.status)})</title></rect>"
            )
    parts.append(
        f'<text x="{pad_left}" y="{height - 4}" font-size="11">{escape(bars[0].label)}</text>'
        f'<text x="{width - 8}" y="{height - 4}" font-size="11" text-anchor="end">{escape(bars[-1].label)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def success_rate(statuses: Sequence[str]) -> float | None:
    """The share of finished runs that succeeded (with or without record errors), in percent."""
    finished = [s for s in statuses if s in ("succeeded", "succeeded_with_errors", "failed", "cancelled")]
    if not finished:
        return None
    good = sum(1 for s in finished if s in ("succeeded", "succeeded_with_errors"))
    return round(100.0 * good / len(finished), 1)


def health_strip(items: Sequence[tuple[str, str]], *, title: str, width: int = 640) -> Markup:
    """One coloured square per (name, status): the health of every job or connection at a glance."""
    if not items:
        return Markup('<p class="muted">Nothing yet.</p>')
    size, gap = 18, 4
    per_row = max(1, (width - gap) // (size + gap))
    rows = (len(items) + per_row - 1) // per_row
    height = rows * (size + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (name, status) in enumerate(items):
        x = gap + (i % per_row) * (size + gap)
        y = gap + (i // per_row) * (size + gap)
        colour = STATUS_COLOURS.get(status, "#8c8c8c")
        parts.append(
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" rx="3" fill="{colour}">'
            f"<title>{escape(name)}: {escape(status)}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
