"""The suite pages: a run's progress (live over /ws/suites/<id>/), its per-model figures and
charts, its cases x models matrix, its exports, and the read-only page behind its
comparison's share link. Login required (the site's middleware) except for shared links; a
run is shown to its owner only."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from playground import services as playground_services
from playground.models import Share
from playground.suites import exports, selectors, services
from playground.suites.fragments import FigureOptions, Viewer, page_context
from playground.suites.models import SuiteRun
from playground.views import open_share  # the share link rules: one place for them

EXPORT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


def _suite_run(request: HttpRequest, pk: int) -> SuiteRun:
    try:
        return selectors.suite_run_for(user=request.user, suite_run_id=pk)  # type: ignore[arg-type]
    except SuiteRun.DoesNotExist:
        raise Http404("No such suite run.") from None


def suite_run_list(request: HttpRequest) -> HttpResponse:
    runs = selectors.suite_runs_of(user=request.user)  # type: ignore[arg-type]
    return render(request, "suites/list.html", {"suite_runs": runs})


@require_GET
def suite_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # Read before the page is built: the socket then sends what finished after this.
    since = timezone.now().timestamp()
    suite_run = _suite_run(request, pk)
    options = FigureOptions.from_query(request.GET)
    context = page_context(suite_run, options=options, viewer=Viewer.owner(suite_run))
    share = playground_services.active_share(comparison=suite_run.comparison)
    query = f"since={since:.3f}"
    if options.volume is not None:
        query += f"&volume={options.volume}"
    if options.cached:
        query += f"&cached={options.cached_percent}"
    context.update(
        ws_url=f"/ws/suites/{suite_run.pk}/?{query}",
        share=share,
        share_url=reverse("suite_shared", args=[share.token]) if share else "",
    )
    return render(request, "suites/detail.html", context)


@require_POST
def suite_run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    suite_run = _suite_run(request, pk)
    services.suite_run_cancel(user=request.user, suite_run_id=suite_run.pk)  # type: ignore[arg-type]
    return redirect("suite_run", pk=suite_run.pk)


def _export(
    suite_run: SuiteRun,
    fmt: str,
    *,
    options: FigureOptions,
    system_prompt: bool,
    owner: str | None,
) -> HttpResponse:
    if fmt not in EXPORT_TYPES:
        raise Http404("Unknown export format.")
    units = selectors.export_units(suite_run=suite_run)
    if fmt == "json":
        aggregates = selectors.model_aggregates(
            suite_run=suite_run, requests_per_day=options.volume, cached_share=options.cached
        )
        data = exports.as_json(
            suite_run, units, aggregates, system_prompt=system_prompt, owner=owner
        )
        body = json.dumps(data, indent=2, ensure_ascii=False)
    else:
        body = exports.as_csv(units, system_prompt=system_prompt)
    response = HttpResponse(body, content_type=EXPORT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="suite-run-{suite_run.pk}.{fmt}"'
    return response


@require_GET
def suite_run_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    suite_run = _suite_run(request, pk)
    return _export(
        suite_run,
        fmt,
        options=FigureOptions.from_query(request.GET),
        system_prompt=True,
        owner=suite_run.owner.get_username(),
    )


def _open_suite_share(request: HttpRequest, token: str) -> tuple[Share, SuiteRun] | HttpResponse:
    """The share link's rules (audience, expiry, revoked or deleted: 410), then its suite run."""
    opened = open_share(request, token)
    if isinstance(opened, HttpResponse):
        return opened
    suite_run = selectors.suite_run_of_share(opened)
    if suite_run is None:
        raise Http404("That link shares a comparison, not a suite run.")
    return opened, suite_run


@login_not_required
@require_GET
def suite_shared(request: HttpRequest, token: str) -> HttpResponse:
    """The read-only suite-run page behind a share link of its comparison."""
    opened = _open_suite_share(request, token)
    if isinstance(opened, HttpResponse):
        return opened
    share, suite_run = opened
    context = page_context(
        suite_run,
        options=FigureOptions.from_query(request.GET),
        viewer=Viewer.share_link(share.token),
    )
    owner = suite_run.owner.get_username() if share.include_owner else ""
    models = ", ".join(str(spec["model"]) for spec in suite_run.model_specs)
    description = f"{suite_run.suite} on {models}"
    context.update(
        share=share,
        public=share.audience == Share.Audience.PUBLIC,
        owner_name=owner,
        og_description=f"{description} · shared by {owner}" if owner else description,
    )
    return render(request, "suites/shared.html", context)


@login_not_required
@require_GET
def suite_shared_export(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    opened = _open_suite_share(request, token)
    if isinstance(opened, HttpResponse):
        return opened
    share, suite_run = opened
    return _export(
        suite_run,
        fmt,
        options=FigureOptions.from_query(request.GET),
        system_prompt=share.include_system_prompt,
        owner=suite_run.owner.get_username() if share.include_owner else None,
    )
