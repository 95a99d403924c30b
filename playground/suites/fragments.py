"""The suite-run page in pieces, one partial template each (templates/suites/_*.html): the
same markup for the page, its live frames (the pieces with hx-swap-oob) and the shared page.
Reads go through the selectors; nothing here writes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse

from playground.suites import charts, selectors
from playground.suites.models import SuiteRun, SuiteUnit
from playground.templatetags.playground_tags import MISSING

MAX_VOLUME = 10**9


@dataclass(frozen=True, slots=True)
class FigureOptions:
    """What the per-model figures assume: requests a day (None: the default) and the share of
    input tokens served from the cache (0-1)."""

    volume: int | None = None
    cached: float = 0.0

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> FigureOptions:
        """From a page's (or a socket's) query string; a bad value means the default."""
        try:
            volume: int | None = min(MAX_VOLUME, max(1, int(str(query.get("volume", "")))))
        except ValueError:
            volume = None
        try:
            cached = float(str(query.get("cached", "0"))) / 100
        except ValueError:
            cached = 0.0
        cached = min(1.0, max(0.0, cached)) if math.isfinite(cached) else 0.0
        return cls(volume=volume, cached=cached)

    @property
    def cached_percent(self) -> int:
        return round(self.cached * 100)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who looks at the page: its owner, or a share link's visitor (read-only)."""

    run_link: str  # the page a unit's answer opens on (its comparison, or the shared one)
    export_json: str
    export_csv: str
    shared: bool

    @classmethod
    def owner(cls, suite_run: SuiteRun) -> Viewer:
        return cls(
            run_link=reverse("comparison", args=[suite_run.comparison_id]),
            export_json=reverse("suite_run_export", args=[suite_run.pk, "json"]),
            export_csv=reverse("suite_run_export", args=[suite_run.pk, "csv"]),
            shared=False,
        )

    @classmethod
    def share_link(cls, token: str) -> Viewer:
        return cls(
            run_link=reverse("shared", args=[token]),
            export_json=reverse("suite_shared_export", args=[token, "json"]),
            export_csv=reverse("suite_shared_export", args=[token, "csv"]),
            shared=True,
        )


def eta_text(seconds: float | None) -> str:
    """The time left in words: "about 40 s", "about 3 min", "about 1 h 20 min", or "unknown"."""
    if seconds is None:
        return MISSING
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


def is_live(suite_run: SuiteRun, progress: selectors.Progress) -> bool:
    """Something may still change: the run is not final, or units of it still run."""
    return not suite_run.is_final or progress.running > 0


def _progress_context(suite_run: SuiteRun, progress: selectors.Progress) -> dict[str, Any]:
    return {
        "suite_run": suite_run,
        "progress": progress,
        "eta": eta_text(progress.eta_seconds),
        "live": is_live(suite_run, progress),
    }


def _charts(suite_run: SuiteRun, results: selectors.Results) -> list[dict[str, Any]]:
    if not any(results.ttft) and not any(results.total):
        return []
    labels = [str(spec["model"]) for spec in suite_run.model_specs]
    ttft = [
        charts.Series(label, points, item.ttft_p50, item.ttft_p95)
        for label, points, item in zip(labels, results.ttft, results.aggregates, strict=True)
    ]
    total = [
        charts.Series(label, points, item.total_p50, item.total_p95)
        for label, points, item in zip(labels, results.total, results.aggregates, strict=True)
    ]
    return [
        {
            "title": "Time to first token",
            "svg": charts.strip_plot(title="Time to first token", series=ttft),
        },
        {"title": "Total time", "svg": charts.strip_plot(title="Total time", series=total)},
    ]


def _results_context(
    suite_run: SuiteRun, progress: selectors.Progress, *, options: FigureOptions
) -> dict[str, Any]:
    results = selectors.results(
        suite_run=suite_run, requests_per_day=options.volume, cached_share=options.cached
    )
    return {
        "suite_run": suite_run,
        "progress": progress,
        "live": is_live(suite_run, progress),
        "aggregates": results.aggregates,
        "charts": _charts(suite_run, results),
        "cached_percent": options.cached_percent,
    }


def _matrix_context(suite_run: SuiteRun, viewer: Viewer) -> dict[str, Any]:
    return {
        "models": [spec["model"] for spec in suite_run.model_specs],
        "matrix": selectors.matrix(suite_run=suite_run),
        "run_link": viewer.run_link,
    }


def page_context(suite_run: SuiteRun, *, options: FigureOptions, viewer: Viewer) -> dict[str, Any]:
    """Everything the suite-run page (the owner's or the shared one) shows."""
    progress = selectors.progress(suite_run=suite_run)
    return {
        **_progress_context(suite_run, progress),
        **_results_context(suite_run, progress, options=options),
        **_matrix_context(suite_run, viewer),
        "viewer": viewer,
    }


def progress_html(suite_run: SuiteRun, progress: selectors.Progress) -> str:
    return render_to_string(
        "suites/_progress.html", {**_progress_context(suite_run, progress), "oob": True}
    )


def units_html(units: Sequence[SuiteUnit], *, viewer: Viewer) -> str:
    """Each unit's cell of the matrix, to replace the one on the page."""
    return "".join(
        render_to_string(
            "suites/_unit.html", {"unit": unit, "run_link": viewer.run_link, "oob": True}
        )
        for unit in units
    )


def final_html(
    suite_run: SuiteRun,
    progress: selectors.Progress,
    *,
    options: FigureOptions,
    viewer: Viewer,
) -> str:
    """The figures of a run that ended: its progress, the whole matrix, the per-model table
    and the charts, and no cancel button."""
    return "".join(
        [
            progress_html(suite_run, progress),
            render_to_string(
                "suites/_matrix.html", {**_matrix_context(suite_run, viewer), "oob": True}
            ),
            render_to_string(
                "suites/_results.html",
                {**_results_context(suite_run, progress, options=options), "oob": True},
            ),
            '<div id="suite-cancel" hx-swap-oob="true"></div>',
        ]
    )
