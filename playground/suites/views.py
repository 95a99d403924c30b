"""The suite pages: a run's progress, its cases x models matrix and its per-model figures.
Login required (the site's middleware); a run is shown to its owner only."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from playground.suites import selectors, services
from playground.suites.models import SuiteRun


def _suite_run(request: HttpRequest, pk: int) -> SuiteRun:
    try:
        return selectors.suite_run_for(user=request.user, suite_run_id=pk)  # type: ignore[arg-type]
    except SuiteRun.DoesNotExist:
        raise Http404("No such suite run.") from None


def suite_run_list(request: HttpRequest) -> HttpResponse:
    runs = selectors.suite_runs_of(user=request.user)  # type: ignore[arg-type]
    return render(request, "suites/list.html", {"suite_runs": runs})


def suite_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    suite_run = _suite_run(request, pk)
    try:
        volume = max(1, int(request.GET.get("volume", "")))
    except ValueError:
        volume = None
    try:
        cached = min(1.0, max(0.0, float(request.GET.get("cached", "0")) / 100))
    except ValueError:
        cached = 0.0
    context = {
        "suite_run": suite_run,
        "progress": selectors.progress(suite_run=suite_run),
        "models": [spec["model"] for spec in suite_run.model_specs],
        "matrix": selectors.matrix(suite_run=suite_run),
        "aggregates": selectors.model_aggregates(
            suite_run=suite_run, requests_per_day=volume, cached_share=cached
        ),
        "cached_percent": round(cached * 100),
    }
    return render(request, "suites/detail.html", context)


@require_POST
def suite_run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    suite_run = _suite_run(request, pk)
    services.suite_run_cancel(user=request.user, suite_run_id=suite_run.pk)  # type: ignore[arg-type]
    return redirect("suite_run", pk=suite_run.pk)
