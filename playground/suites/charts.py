"""Per-model distributions as server-rendered SVG: a strip plot, one row per model, each run a
dot (jittered up and down deterministically, by its run id), with its p50 and p95 marked and
an axis in ms or s. No script and no inline style (the page's CSP): colours come from
app.css. Every label goes through format_html."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 760
LABEL_WIDTH = 190  # the models' names, left of the plot
RIGHT_PAD = 24
TOP = 10
ROW_HEIGHT = 34
AXIS_HEIGHT = 30
DOT_RADIUS = 3.5
JITTER = 0.32  # of a row's height, either way
LABEL_CHARS = 28


@dataclass(frozen=True, slots=True)
class Series:
    """One model's row: the (run id, value in ms) of each measured run, and its percentiles."""

    label: str
    points: Sequence[tuple[int, float]]
    p50: float | None
    p95: float | None


def ms_label(value: float) -> str:
    """An axis or mark value: "250 ms", "1.5 s", "2 m 5 s"."""
    if value < 1000:
        return f"{value:.0f} ms" if value >= 10 or value == int(value) else f"{value:.1f} ms"
    if value < 60_000:
        return f"{value / 1000:g} s" if value % 100 == 0 else f"{value / 1000:.2f} s"
    return f"{int(value // 60_000)} m {value % 60_000 / 1000:.0f} s"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^k) up to at least `top`."""
    if top <= 0 or not math.isfinite(top):
        top = 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 6) for i in range(steps + 1)]


def jitter(run_id: int) -> float:
    """A fixed offset in [-1, 1) for a run: the same on every render and in every process."""
    return ((run_id * 2654435761) % 2**32) / 2**31 - 1


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _summary(title: str, series: Sequence[Series]) -> str:
    """The chart in words, for its aria-label."""
    parts = []
    for row in series:
        if not row.points:
            parts.append(f"{row.label}: no measured runs")
            continue
        marks = ", ".join(
            f"{name} {ms_label(value)}"
            for name, value in (("p50", row.p50), ("p95", row.p95))
            if value is not None
        )
        runs = len(row.points)
        parts.append(f"{row.label}: {runs} run{'s' if runs != 1 else ''}, {marks}")
    return f"{title}. " + "; ".join(parts)


def strip_plot(*, title: str, series: Sequence[Series]) -> SafeString:
    """One <svg>: a row per series, its runs as dots, p50 (solid) and p95 (dashed) marks."""
    values = [value for row in series for _, value in row.points]
    values += [v for row in series for v in (row.p50, row.p95) if v is not None]
    ticks = nice_ticks(max(values, default=0.0))
    top = ticks[-1]
    x0, x1 = LABEL_WIDTH, WIDTH - RIGHT_PAD
    plot_bottom = TOP + ROW_HEIGHT * len(series)
    height = plot_bottom + AXIS_HEIGHT

    def x(value: float) -> str:
        return f"{x0 + (x1 - x0) * value / top:.1f}"

    parts: list[SafeString] = [format_html("<title>{}</title>", title)]
    for tick in ticks:
        parts.append(
            format_html(
                '<line class="grid" x1="{x}" y1="{y1}" x2="{x}" y2="{y2}"></line>'
                '<text class="tick" x="{x}" y="{ty}" text-anchor="middle">{label}</text>',
                x=x(tick),
                y1=TOP,
                y2=plot_bottom + 4,
                ty=plot_bottom + 18,
                label=ms_label(tick),
            )
        )
    parts.append(
        format_html(
            '<line class="axis" x1="{}" y1="{y}" x2="{}" y2="{y}"></line>', x0, x1, y=plot_bottom
        )
    )
    for index, row in enumerate(series):
        middle = TOP + ROW_HEIGHT * index + ROW_HEIGHT / 2
        short = _short(row.label)
        parts.append(
            format_html(
                '<text class="label" x="{}" y="{}" text-anchor="end" '
                'dominant-baseline="middle">{}{}</text>',
                x0 - 10,
                f"{middle:.1f}",
                short,
                format_html("<title>{}</title>", row.label) if short != row.label else "",
            )
        )
        if not row.points:
            parts.append(
                format_html(
                    '<text class="none" x="{}" y="{}" dominant-baseline="middle">'
                    "no measured runs</text>",
                    x0 + 6,
                    f"{middle:.1f}",
                )
            )
            continue
        parts.append(format_html_join(
            "",
            '<circle class="dot" cx="{}" cy="{}" r="{}"><title>{}: {} (run {})</title></circle>',
            (
                (
                    x(value),
                    f"{middle + jitter(run_id) * JITTER * ROW_HEIGHT:.1f}",
                    DOT_RADIUS,
                    row.label,
                    ms_label(value),
                    run_id,
                )
                for run_id, value in row.points
            ),
        ))  # fmt: skip
        for name, value in (("p50", row.p50), ("p95", row.p95)):
            if value is None:
                continue
            parts.append(
                format_html(
                    '<line class="mark {name}" x1="{x}" y1="{y1}" x2="{x}" y2="{y2}">'
                    "<title>{label} {name}: {value}</title></line>",
                    name=name,
                    x=x(value),
                    y1=f"{middle - ROW_HEIGHT * 0.42:.1f}",
                    y2=f"{middle + ROW_HEIGHT * 0.42:.1f}",
                    label=row.label,
                    value=ms_label(value),
                )
            )
    return format_html(
        '<svg class="strip-plot" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{summary}" xmlns="http://www.w3.org/2000/svg">{body}</svg>',
        w=WIDTH,
        h=f"{height:.0f}",
        summary=_summary(title, series),
        body=format_html_join("", "{}", ((part,) for part in parts)),
    )
