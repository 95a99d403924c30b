"""Server-rendered SVG for the arena pages: the interval bar of a leaderboard row, the
win-rate heatmap's colour scale and the decision chart. No script and no style attributes
(the Content-Security-Policy allows neither): SVG presentation attributes and classes from
static/arena/arena.css. Every label is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString

BAR_WIDTH, BAR_HEIGHT = 140, 14
HEAT_STEPS = 10  # colour classes heat-0 … heat-10 (0%: red, 50%: neutral, 100%: green)


def _num(value: float) -> str:
    return f"{value:.1f}"


def interval_bar(
    *, score: float, lower: float, upper: float, low: float, high: float
) -> SafeString:
    """A small inline SVG: the 95% interval as a bar and the score as a tick, on the
    board's common axis from `low` to `high`."""
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return 2 + (BAR_WIDTH - 4) * min(max((value - low) / span, 0.0), 1.0)

    return format_html(
        '<svg class="interval-bar" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"'
        ' aria-label="95% interval {lo} to {hi}"><line class="axis" x1="0" x2="{w}" y1="{mid}"'
        ' y2="{mid}"/><rect class="interval" x="{x0}" y="3" width="{bw}" height="{bh}" rx="2"/>'
        '<line class="score" x1="{xs}" x2="{xs}" y1="1" y2="{h1}"/></svg>',
        w=BAR_WIDTH,
        h=BAR_HEIGHT,
        mid=BAR_HEIGHT / 2,
        lo=f"{lower:.0f}",
        hi=f"{upper:.0f}",
        x0=_num(x(lower)),
        bw=_num(max(x(upper) - x(lower), 1.0)),
        bh=BAR_HEIGHT - 6,
        xs=_num(x(score)),
        h1=BAR_HEIGHT - 1,
    )


def heat_class(rate: float | None) -> str:
    """The heatmap cell's class for a win rate (none for a pair that never met)."""
    if rate is None:
        return "heat-none"
    return f"heat-{round(min(max(rate, 0.0), 1.0) * HEAT_STEPS)}"


@dataclass(frozen=True)
class Point:
    """One model on a decision panel: quality (score and interval) against `x`."""

    label: str
    score: float
    lower: float
    upper: float
    x: float
    href: str
    pareto: bool


@dataclass(frozen=True)
class Axis:
    low: float
    high: float
    log: bool

    def fraction(self, value: float) -> float:
        if self.log:
            low, high, value = math.log10(self.low), math.log10(self.high), math.log10(value)
        else:
            low, high = self.low, self.high
        return 0.5 if high == low else (value - low) / (high - low)

    def ticks(self) -> list[float]:
        if self.log:
            first, last = math.floor(math.log10(self.low)), math.ceil(math.log10(self.high))
            return [10.0**e for e in range(first, last + 1) if self.low <= 10.0**e <= self.high]
        return nice_ticks(self.low, self.high)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) between low and high."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks: list[float] = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def x_axis(values: Sequence[float]) -> Axis:
    """Linear from 0, or logarithmic when the values span more than 20 times."""
    positive = [v for v in values if v > 0]
    if positive and len(positive) == len(values) and max(positive) / min(positive) > 20:
        low = 10.0 ** math.floor(math.log10(min(positive)))
        high = 10.0 ** math.ceil(math.log10(max(positive)))
        return Axis(low, high, log=True)
    high = max(values, default=1.0) or 1.0
    return Axis(0.0, high * 1.1, log=False)


def y_axis(points: Sequence[Point]) -> Axis:
    low = min(p.lower for p in points)
    high = max(p.upper for p in points)
    pad = max((high - low) * 0.08, 10.0)
    return Axis(low - pad, high + pad, log=False)


WIDTH, HEIGHT = 520, 340
LEFT, RIGHT, TOP, BOTTOM = 58, 16, 16, 44


def decision_panel(
    points: Sequence[Point], *, title: str, x_label: str, x_format: str, panel_id: str
) -> SafeString:
    """Quality (score with its 95% interval) against one measured figure, one <a> per model
    linking to its evidence; the Pareto-optimal models highlighted and joined by a step line.
    `x_format` is "ms" or "usd"."""
    if not points:
        return format_html(
            '<p class="muted chart-empty" data-panel="{}">No model has both a score and this'
            " figure yet.</p>",
            panel_id,
        )
    xa = x_axis([p.x for p in points])
    ya = y_axis(points)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(value: float) -> float:
        return LEFT + plot_w * xa.fraction(value)

    def py(value: float) -> float:
        return TOP + plot_h * (1 - ya.fraction(value))

    parts: list[SafeString] = [
        format_html(
            '<svg class="decision-chart" id="{}" width="{}" height="{}" viewBox="0 0 {} {}"'
            ' role="img" aria-labelledby="{}-title"><title id="{}-title">{}</title>',
            panel_id,
            WIDTH,
            HEIGHT,
            WIDTH,
            HEIGHT,
            panel_id,
            panel_id,
            title,
        ),
        format_html(
            '<rect class="plot" x="{}" y="{}" width="{}" height="{}"/>', LEFT, TOP, plot_w, plot_h
        ),
    ]
    for tick in ya.ticks():
        ty = _num(py(tick))
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                ty,
                ty,
                LEFT - 6,
                ty,
                f"{tick:.0f}",
            )
        )
    for tick in xa.ticks():
        tx = _num(px(tick))
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                tx,
                tx,
                TOP,
                HEIGHT - BOTTOM,
                tx,
                HEIGHT - BOTTOM + 14,
                format_x(tick, x_format),
            )
        )
    parts.append(
        format_html(
            '<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>'
            '<text class="axis-label" x="14" y="{}" text-anchor="middle"'
            ' transform="rotate(-90 14 {})">quality (score, 95% interval)</text>',
            LEFT + plot_w / 2,
            HEIGHT - 8,
            x_label,
            TOP + plot_h / 2,
            TOP + plot_h / 2,
        )
    )
    front = sorted((p for p in points if p.pareto), key=lambda p: p.x)
    if len(front) > 1:
        steps: list[str] = []
        for i, point in enumerate(front):
            if i:
                steps.append(f"{_num(px(point.x))},{_num(py(front[i - 1].score))}")
            steps.append(f"{_num(px(point.x))},{_num(py(point.score))}")
        parts.append(format_html('<polyline class="front" points="{}"/>', " ".join(steps)))
    for point in points:
        x, y = px(point.x), py(point.score)
        parts.append(
            format_html(
                '<a href="{href}" class="point{cls}" data-model="{label}"><title>{label}: {score}'
                " ({lower}–{upper}), {xv}{star}</title>"
                '<line class="error-bar" x1="{x}" x2="{x}" y1="{y1}" y2="{y2}"/>'
                '<line class="error-cap" x1="{xl}" x2="{xr}" y1="{y1}" y2="{y1}"/>'
                '<line class="error-cap" x1="{xl}" x2="{xr}" y1="{y2}" y2="{y2}"/>'
                '<circle cx="{x}" cy="{y}" r="{r}"/>'
                '<text class="label" x="{tx}" y="{ty}" text-anchor="{anchor}">{label}</text></a>',
                href=point.href,
                cls=" pareto" if point.pareto else "",
                label=point.label,
                score=f"{point.score:.0f}",
                lower=f"{point.lower:.0f}",
                upper=f"{point.upper:.0f}",
                xv=format_x(point.x, x_format),
                star=", Pareto-optimal" if point.pareto else "",
                x=_num(x),
                y=_num(y),
                y1=_num(py(point.upper)),
                y2=_num(py(point.lower)),
                xl=_num(x - 4),
                xr=_num(x + 4),
                r=6 if point.pareto else 4.5,
                # Labels of points in the right part of the plot go to their left.
                tx=_num(x - 8 if x > LEFT + plot_w * 0.7 else x + 8),
                anchor="end" if x > LEFT + plot_w * 0.7 else "start",
                ty=_num(y - 6),
            )
        )
    parts.append(SafeString("</svg>"))
    return format_html_join("", "{}", ((part,) for part in parts))


def format_x(value: float, kind: str) -> str:
    if kind == "ms":
        return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.2g}"
    return f"${value:,.2f}" if value < 1000 else f"${value:,.0f}"


def escape_label(text: str) -> str:
    return str(escape(text))
