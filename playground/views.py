"""Pages: thin views over selectors, services and the compare form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from inference.backends.base import Message
from inference.catalog import (
    ModelChoice,
    ModelUnavailableError,
    UnknownModelError,
    model_choices,
    resolve_models,
)
from inference.pricing import cost_range
from inference.tokens import count_prompt_tokens
from playground import exports, services
from playground.conf import playground_settings
from playground.forms import CompareForm, ShareForm
from playground.models import Comparison, Run, Share, Turn
from playground.selectors import comparison_turns

HISTORY_PAGE_SIZE = 20
EXPORT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}


def _owner(request: HttpRequest) -> AbstractBaseUser:
    """The logged-in user (LoginRequiredMiddleware keeps anonymous visitors out)."""
    user = request.user
    if not isinstance(user, AbstractBaseUser):
        raise Http404("Log in first.")
    return user


@dataclass(frozen=True, slots=True)
class Preset:
    """A panel the page opens with: a model and, when forked, its own settings."""

    choice: ModelChoice
    temperature: float | None = None
    max_tokens: int | None = None


def _picker_context(presets: list[tuple[str, float | None, int | None]]) -> dict[str, Any]:
    choices = model_choices()
    by_name = {choice.name: choice for choice in choices}
    limits = playground_settings()
    selected = [
        Preset(by_name[name], temperature, max_tokens)
        for name, temperature, max_tokens in presets
        if name in by_name
    ]
    return {"choices": choices, "selected": selected[: limits.max_panels], "limits": limits}


def _prefill_from(comparison: Comparison) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """The first turn of a saved comparison as a new compare form."""
    first_turn = comparison.turns.order_by("index").first()
    runs = list(
        Run.objects.filter(comparison=comparison, superseded=False, turn=first_turn).order_by(
            "position"
        )
    )
    initial: dict[str, Any] = {
        "prompt": first_turn.prompt if first_turn else "",
        "system": comparison.system_prompt,
        "same_settings": comparison.same_settings,
    }
    if runs and comparison.same_settings:
        initial.update(temperature=runs[0].temperature, max_tokens=runs[0].max_tokens)
    return initial, [(run.model_name, run.temperature, run.max_tokens) for run in runs]


def _initial_from(request: HttpRequest) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """Pre-fill from a deep link (?models=a,b&prompt=...), ?from=<own id> or ?fork=<token>."""
    initial: dict[str, Any] = {"same_settings": True}
    presets: list[tuple[str, Any, Any]] = [
        (name.strip(), None, None)
        for value in request.GET.getlist("models")
        for name in value.split(",")
        if name.strip()
    ]
    source_id = request.GET.get("from", "")
    if source_id.isdigit():
        source = get_object_or_404(Comparison, pk=int(source_id), owner_id=_owner(request).pk)
        initial, presets = _prefill_from(source)
    token = request.GET.get("fork", "")
    if token:
        share = Share.objects.select_related("comparison").filter(token=token).first()
        if share is None or not share.is_active:
            raise Http404("No such shared comparison.")
        initial, presets = _prefill_from(share.comparison)
    for key in ("prompt", "system"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    return initial, presets


@require_GET
def compare_page(request: HttpRequest) -> HttpResponse:
    """A new comparison, optionally pre-filled."""
    initial, presets = _initial_from(request)
    context = {
        "form": CompareForm(initial=initial),
        "comparison": None,
        "turns": [],
        **_picker_context(presets),
    }
    return render(request, "playground/compare.html", context)


@require_GET
def comparison_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved comparison, exactly as it finished; follow-ups and retries continue it."""
    comparison = get_object_or_404(Comparison, pk=pk, owner_id=_owner(request).pk)
    share = services.active_share(comparison=comparison)
    context = {
        "form": CompareForm(initial={"comparison": comparison.pk, "same_settings": True}),
        "comparison": comparison,
        "turns": comparison_turns(comparison),
        "share": share,
        "share_form": ShareForm(
            initial={"audience": share.audience if share else Share.Audience.TEAM}
        ),
        "share_url": request.build_absolute_uri(f"/s/{share.token}/") if share else "",
        **_picker_context([]),
    }
    return render(request, "playground/compare.html", context)


@require_POST
def share(request: HttpRequest, pk: int) -> HttpResponse:
    form = ShareForm(request.POST)
    if form.is_valid():
        try:
            services.share_save(
                user=_owner(request),
                comparison_id=pk,
                audience=form.cleaned_data["audience"],
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
        except Comparison.DoesNotExist:
            raise Http404("No such comparison.") from None
    return redirect(f"/c/{pk}/#share")


@require_POST
def unshare(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.share_revoke(user=_owner(request), comparison_id=pk)
    except Comparison.DoesNotExist:
        raise Http404("No such comparison.") from None
    return redirect(f"/c/{pk}/#share")


def _open_share(request: HttpRequest, token: str) -> Share | HttpResponse:
    """The share behind a link, if this visitor may open it; otherwise the answer to give."""
    shared = Share.objects.select_related("comparison").filter(token=token).first()
    if shared is None:
        raise Http404("No such shared comparison.")
    if not shared.is_active:
        return render(request, "playground/share_gone.html", status=410)
    if shared.audience == Share.Audience.TEAM and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return shared


@login_not_required
@require_GET
def shared_comparison(request: HttpRequest, token: str) -> HttpResponse:
    """The read-only page behind a share link."""
    opened = _open_share(request, token)
    if isinstance(opened, HttpResponse):
        return opened
    comparison = opened.comparison
    turns = comparison_turns(comparison)
    models = [run.model_label for run in turns[0].runs] if turns else []
    context = {
        "comparison": comparison,
        "share": opened,
        "turns": turns,
        "public": opened.audience == Share.Audience.PUBLIC,
        "og_description": f"{comparison.title[:150]} — {', '.join(models)}",
    }
    return render(request, "playground/shared.html", context)


def _export(comparison: Comparison, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_TYPES:
        raise Http404("Unknown export format.")
    turns = comparison_turns(comparison)
    if fmt == "json":
        body = json.dumps(exports.as_json(comparison, turns), indent=2, ensure_ascii=False)
    elif fmt == "csv":
        body = exports.as_csv(turns)
    else:
        body = exports.as_markdown(comparison, turns)
    response = HttpResponse(body, content_type=EXPORT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="comparison-{comparison.pk}.{fmt}"'
    return response


@require_GET
def export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    return _export(get_object_or_404(Comparison, pk=pk, owner_id=_owner(request).pk), fmt)


@login_not_required
@require_GET
def shared_export(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    opened = _open_share(request, token)
    if isinstance(opened, HttpResponse):
        return opened
    return _export(opened.comparison, fmt)


@require_POST
def estimate(request: HttpRequest) -> HttpResponse:
    """Input tokens and the cost range before sending (an htmx fragment)."""
    data = request.POST
    limits = playground_settings()
    names = [n.strip() for v in data.getlist("models") for n in v.split(",") if n.strip()]
    tokens = count_prompt_tokens(
        data.get("system") or None, [Message(role="user", content=data.get("prompt", ""))]
    )
    error = ""
    try:
        resolved = resolve_models(names[: limits.max_panels]) if names else []
    except (UnknownModelError, ModelUnavailableError) as exc:
        resolved, error = [], str(exc)
    form = CompareForm(data, require_models=False)
    form.is_valid()
    max_tokens = form.cleaned_data.get("max_tokens") or limits.default_max_tokens
    low, high, unknown = Decimal(0), Decimal(0), []
    for model in resolved:
        bounds = cost_range(input_tokens=tokens, max_output_tokens=max_tokens, prices=model.prices)
        if bounds is None:
            unknown.append(model.label)
        else:
            low, high = low + bounds[0], high + bounds[1]
    context = {
        "tokens": tokens,
        "count": len(resolved),
        "priced": len(resolved) - len(unknown),
        "low": low,
        "high": high,
        "unknown": unknown,
        "error": error,
        "max_tokens": max_tokens,
    }
    return render(request, "playground/_estimate.html", context)


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """The user's comparisons, newest first, searchable by prompt; constant queries."""
    query = request.GET.get("q", "").strip()
    comparisons = Comparison.objects.filter(owner_id=_owner(request).pk)
    if query:
        matching = Turn.objects.filter(prompt__icontains=query).values("comparison_id")
        comparisons = comparisons.filter(Q(title__icontains=query) | Q(pk__in=matching))
    comparisons = comparisons.annotate(total_cost=Sum("runs__cost")).prefetch_related(
        Prefetch(
            "runs",
            queryset=Run.objects.filter(superseded=False, turn__index=0).order_by("position"),
            to_attr="first_runs",
        )
    )
    page = Paginator(comparisons.order_by("-created", "-id"), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "playground/history.html", {"page": page, "query": query})
