"""Charts as server-side SVG (no chart library, nothing for the CSP to allow): horizontal
bars for a rate per category/agent, columns for a daily series.

Every text is escaped (agent names and categories are data); colours are presentation
attributes, not style attributes, so the console's `style-src 'self'` holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.desk.console.render import Markup, esc

BAR = "#2f6fb0"
BAR_LOW = "#c0392b"
AXIS = "#555555"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # a percentage 0..100, None when there is nothing to measure
    note: str  # shown after the bar, e.g. "45/50"


def bars(title: str, items: Sequence[Bar], *, low_below: float = 80.0) -> Markup:
    """Horizontal percentage bars, one per item (an empty list draws "no data")."""
    row, label_w, bar_w = 24, 180, 300
    height = 30 + row * max(len(items), 1)
    width = label_w + bar_w + 110
    parts = [
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{esc(title)}</title>",
        f'<text x="0" y="16" font-weight="bold">{esc(title)}</text>',
    ]
    if not items:
        parts.append(f'<text x="0" y="{30 + 16}" fill="{AXIS}">无数据 No data</text>')
    for index, item in enumerate(items):
        y = 30 + index * row
        parts.append(f'<text x="0" y="{y + 16}">{esc(item.label[:28])}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="16" fill="#eeeeee"/>'
        )
        if item.value is not None:
            colour = BAR_LOW if item.value < low_below else BAR
            length = round(bar_w * min(max(item.value, 0.0), 100.0) / 100.0, 1)
            parts.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{length}" height="16" fill="{colour}"/>'
            )
        shown = "-" if item.value is None else f"{item.value:.1f}%"
        parts.append(
            f'<text x="{label_w + bar_w + 6}" y="{y + 16}">{esc(shown)} {esc(item.note)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(title: str, labels: Sequence[str], values: Sequence[int]) -> Markup:
    """A column per day (labels) of counts."""
    height, base, gap = 180, 150, 2
    slot = max(8, min(28, 600 // max(len(values), 1)))
    width = 40 + slot * max(len(values), 1)
    top = max(values, default=0) or 1
    parts = [
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{esc(title)}</title>",
        f'<text x="0" y="14" font-weight="bold">{esc(title)}</text>',
        f'<text x="0" y="30" fill="{AXIS}">{top}</text>',
        f'<line x1="36" y1="{base}" x2="{width}" y2="{base}" stroke="{AXIS}"/>',
    ]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = 40 + index * slot
        h = round((base - 30) * value / top, 1)
        parts.append(
            f'<rect x="{x}" y="{base - h}" width="{slot - gap}" height="{h}" fill="{BAR}">'
            f"<title>{esc(label)}: {value}</title></rect>"
        )
        if len(labels) <= 16 or index % max(len(labels) // 8, 1) == 0:
            parts.append(f'<text x="{x}" y="{base + 14}" font-size="10">{esc(label[5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
