"""Charts as inline SVG, built by hand: the report must open from a file share with no network.

A few rectangles and lines need no plotting library, and hand-built SVG stays small (a
matplotlib SVG of one histogram is tens of kilobytes). Every text is escaped; colours come
from the page's CSS classes so the charts follow its style.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

WIDTH = 720
BAR_HEIGHT = 22
LABEL_WIDTH = 260


@dataclass(frozen=True)
class Marker:
    """A vertical line across a chart at `value`, e.g. a threshold."""

    value: float
    label: str


@dataclass(frozen=True)
class Scale:
    """Maps data values onto pixels between `left` and `right`."""

    low: float
    high: float
    left: float
    right: float

    def __call__(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return self.left + (value - self.low) / span * (self.right - self.left)


def histogram(
    values: dict[str, Sequence[float]], markers: Sequence[Marker], *, title: str, x_label: str, bins: int = 40
) -> Markup:
    """Stacked histogram of each series in `values` (e.g. pairs by decision), with vertical markers."""
    every = np.concatenate(
        [np.asarray(v, dtype=float) for v in values.values()] + [np.array([m.value for m in markers])]
    )
    every = every[np.isfinite(every)]
    low, high = (float(every.min()), float(every.max())) if len(every) else (0.0, 1.0)
    if high == low:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    counts = {name: np.histogram(np.asarray(v, dtype=float), bins=edges)[0] for name, v in values.items()}
    stacked = sum(counts.values()) if counts else np.zeros(bins)
    height, top, bottom = 300, 36, 250
    x = Scale(low, high, 50, WIDTH - 20)
    y = Scale(0, max(1, int(np.max(stacked))), bottom, top)
    parts = [_svg_open(height, title), _text(WIDTH / 2, 18, title, "title", anchor="middle")]
    base = np.zeros(bins)
    for index, (name, series) in enumerate(counts.items()):
        for i, count in enumerate(series):
            if count:
                x0, x1 = x(edges[i]), x(edges[i + 1])
                y0, y1 = y(base[i] + count), y(base[i])
                parts.append(
                    f'<rect class="series-{index}" x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                    f'height="{y1 - y0:.1f}"><title>{escape(name)}: {int(count)} between {edges[i]:.1f} and '
                    f"{edges[i + 1]:.1f}</title></rect>"
                )
        base = base + series
    parts.append(_axes(x, y, bottom, x_label))
    for i, marker in enumerate(markers):
        px = x(marker.value)
        parts.append(f'<line class="marker" x1="{px:.1f}" x2="{px:.1f}" y1="{top - 4}" y2="{bottom}"/>')
        parts.append(_text(px + 4, top + 8 + 14 * i, marker.label, "marker-label"))
    parts.append(_legend(list(counts), WIDTH - 20, top))
    return Markup("".join(parts) + "</svg>")


def bars(
    rows: Sequence[tuple[str, float, str]], *, title: str, classes: Sequence[str] = (), high: float | None = None
) -> Markup:
    """Horizontal bars, one per (label, value, value text); `classes` colour each bar (e.g. by severity)."""
    height = 40 + BAR_HEIGHT * max(len(rows), 1) + 10
    top_value = high if high is not None else max([value for _, value, _ in rows] + [1])
    x = Scale(0, top_value, LABEL_WIDTH, WIDTH - 80)
    parts = [_svg_open(height, title), _text(WIDTH / 2, 18, title, "title", anchor="middle")]
    for i, (label, value, shown) in enumerate(rows):
        y = 34 + i * BAR_HEIGHT
        css = classes[i] if i < len(classes) else "series-0"
        parts.append(_text(LABEL_WIDTH - 6, y + 15, label, "label", anchor="end"))
        parts.append(
            f'<rect class="{escape(css)}" x="{LABEL_WIDTH}" y="{y + 3}" width="{max(x(value) - LABEL_WIDTH, 0):.1f}" '
            f'height="{BAR_HEIGHT - 6}"><title>{escape(label)}: {escape(shown)}</title></rect>'
        )
        parts.append(_text(max(x(value), LABEL_WIDTH) + 4, y + 15, shown, "value"))
    if not rows:
        parts.append(_text(WIDTH / 2, 50, "nothing to show", "label", anchor="middle"))
    return Markup("".join(parts) + "</svg>")


def waterfall(steps: Sequence[tuple[str, float]], total: float, scale: Scale, markers: Sequence[Marker]) -> Markup:
    """Why a pair scored as it did: each step moves the running weight from the prior to the total.

    `steps` are (label, weight) in order, the first being the prior; one shared `scale` across
    rows makes pairs comparable by eye.
    """
    row, label_width = 15, 180
    height = row * (len(steps) + 1) + 6
    parts = [
        f'<svg class="waterfall" viewBox="0 0 {scale.right + 60:.0f} {height}" width="{scale.right + 60:.0f}" '
        f'height="{height}" role="img" aria-label="match weight by comparison">'
    ]
    zero = scale(0)
    parts.append(f'<line class="axis" x1="{zero:.1f}" x2="{zero:.1f}" y1="0" y2="{height}"/>')
    for marker in markers:
        px = scale(marker.value)
        parts.append(f'<line class="marker" x1="{px:.1f}" x2="{px:.1f}" y1="0" y2="{height}"><title>')
        parts.append(f"{escape(marker.label)}</title></line>")
    running = 0.0
    for i, (label, weight) in enumerate([*steps, ("total", total)]):
        start, end = (0.0, total) if label == "total" else (running, running + weight)
        css = "total" if label == "total" else ("up" if weight >= 0 else "down")
        x0, x1 = sorted((scale(start), scale(end)))
        y = 3 + i * row
        parts.append(_text(label_width - 4, y + 10, label, "label", anchor="end"))
        parts.append(f'<rect class="{css}" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{row - 4}"/>')
        parts.append(_text(max(x0, x1) + 3, y + 10, f"{weight if label != 'total' else total:+.1f}", "value"))
        if label != "total":
            running += weight
    return Markup("".join(parts) + "</svg>")


def waterfall_scale(lows: Sequence[float], highs: Sequence[float]) -> Scale:
    """One scale for every waterfall on the page, from the lowest and highest running weights."""
    low = min([0.0, *lows])
    high = max([1.0, *highs])
    return Scale(low, high, 185, 460)


def _svg_open(height: float, title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">'
    )


def _axes(x: Scale, y: Scale, bottom: float, x_label: str) -> str:
    parts = [f'<line class="axis" x1="{x.left}" x2="{x.right}" y1="{bottom}" y2="{bottom}"/>']
    parts.append(f'<line class="axis" x1="{x.left}" x2="{x.left}" y1="{y.right}" y2="{bottom}"/>')
    for value in np.linspace(x.low, x.high, 6):
        parts.append(_text(x(value), bottom + 16, f"{value:.0f}", "tick", anchor="middle"))
    for value in sorted({round(v) for v in np.linspace(y.low, y.high, 5)}):
        parts.append(_text(x.left - 6, y(value) + 4, str(value), "tick", anchor="end"))
    parts.append(_text((x.left + x.right) / 2, bottom + 36, x_label, "label", anchor="middle"))
    return "".join(parts)


def _legend(names: list[str], right: float, top: float) -> str:
    parts = []
    for i, name in enumerate(names):
        y = top + i * 16
        parts.append(f'<rect class="series-{i}" x="{right - 110}" y="{y}" width="10" height="10"/>')
        parts.append(_text(right - 95, y + 9, name, "tick"))
    return "".join(parts)


def _text(x: float, y: float, text: str, css: str, anchor: str = "start") -> str:
    return f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
