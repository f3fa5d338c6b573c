"""Chart geometry for server-rendered SVG: numbers in, rectangles and labels out, no library.

The templates (``templates/pages/reports/charts.html``) draw these with autoescaping on, so a
label (an agent's or a customer's name) is text in the SVG, never markup. Every chart also has its
table on the page; the SVG's ``<title>``/``<desc>`` and each bar's ``<title>`` say the values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 720
HEIGHT = 220
LEFT = 44
"""Room for the value axis' labels."""
BOTTOM = 22
"""Room for the day labels."""
TOP = 8
BAR_HEIGHT = 22
BAR_GAP = 6
LABEL_WIDTH = 180
"""Horizontal bars: room for the labels on the left."""


def nice_ceiling(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    style: str
    """The CSS class of its series (``series-N``, or ``channel-NAME``: a channel's own colour and
    pattern on every chart, whichever other channels are shown)."""
    title: str
    """What a pointer over it says (the label and value), plain text."""


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    rects: list[Rect]
    ticks: list[Tick]
    """Value axis ticks (y for columns, x for horizontal bars)."""
    labels: list[Tick]
    """Category labels (days under columns, names beside horizontal bars)."""
    series: list[str]
    """Legend: the series' names, in colour order."""
    styles: list[str]
    """The series' CSS classes, in the order of ``series``."""

    @property
    def empty(self) -> bool:
        return not self.rects

    @property
    def legend(self) -> list[tuple[str, str]]:
        """``(name, style)`` per series; none for a chart of one unnamed series."""
        return list(zip(self.series, self.styles, strict=True))


def _styles(styles: Sequence[str] | None, count: int) -> list[str]:
    return list(styles) if styles is not None else [f"series-{n}" for n in range(count)]


def _format(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def stacked_days(
    days: Sequence[date],
    series: Sequence[str],
    values: Sequence[Sequence[int]],
    *,
    styles: Sequence[str] | None = None,
    day_label: Callable[[date], str] = date.isoformat,
) -> Chart:
    """One column per day, stacked by series; ``values[s][d]`` is series ``s`` on day ``d``."""
    classes = _styles(styles, len(series))
    plot_width, plot_height = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    totals = [sum(v[d] for v in values) for d in range(len(days))]
    top = max(nice_ceiling(max(totals, default=0)), 2.0)  # counts: no half ticks
    slot = plot_width / max(len(days), 1)
    bar = max(slot * 0.8, 1.0)
    rects: list[Rect] = []
    for d, day in enumerate(days):
        y: float = TOP + plot_height
        for s, name in enumerate(series):
            value = values[s][d]
            if not value:
                continue
            height = plot_height * value / top
            y -= height
            rects.append(
                Rect(
                    LEFT + d * slot + (slot - bar) / 2,
                    y,
                    bar,
                    height,
                    classes[s],
                    f"{day.isoformat()} · {name}: {value}",
                )
            )
    ticks = [Tick(TOP + plot_height * (1 - f), _format(top * f)) for f in (0, 0.5, 1)]
    every = max(1, math.ceil(len(days) / 12))
    labels = [
        Tick(LEFT + d * slot + slot / 2, day_label(day)) for d, day in enumerate(days) if d % every == 0
    ]
    return Chart(WIDTH, HEIGHT, rects, ticks, labels, list(series), classes)


def horizontal(items: Sequence[tuple[str, float]], *, unit: str = "", series: int = 0) -> Chart:
    """One bar per ``(label, value)``, in the given order."""
    chart = stacked_bars([(label, [value]) for label, value in items], [""], unit=unit)
    style = f"series-{series}"
    rects = [Rect(r.x, r.y, r.width, r.height, style, r.title) for r in chart.rects]
    return Chart(chart.width, chart.height, rects, chart.ticks, chart.labels, [], [])


def stacked_bars(
    items: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    *,
    unit: str = "",
    styles: Sequence[str] | None = None,
) -> Chart:
    """One bar per ``(label, values)``, in the given order, its segments the series side by side."""
    classes = _styles(styles, len(series))
    height = TOP + len(items) * (BAR_HEIGHT + BAR_GAP) + BOTTOM
    plot_width = WIDTH - LABEL_WIDTH - 40  # room for the last tick label
    top = max(nice_ceiling(max((sum(v) for _, v in items), default=0)), 2.0)
    rects: list[Rect] = []
    labels: list[Tick] = []
    for n, (label, values) in enumerate(items):
        y = TOP + n * (BAR_HEIGHT + BAR_GAP)
        labels.append(Tick(y + BAR_HEIGHT / 2, label))
        x: float = LABEL_WIDTH
        for s, value in enumerate(values):
            if value > 0:
                width = plot_width * value / top
                name = f"{label} · {series[s]}" if series[s] else label
                title = f"{name}: {_format(value)}{unit}"
                rects.append(Rect(x, y, width, BAR_HEIGHT, classes[s], title))
                x += width
    ticks = [Tick(LABEL_WIDTH + plot_width * f, _format(top * f) + unit) for f in (0, 0.5, 1)]
    legend = list(series) if len(series) > 1 else []
    return Chart(WIDTH, height, rects, ticks, labels, legend, classes[: len(legend)])
