"""Pages: thin views over selectors and the compare form."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from inference.catalog import ModelChoice, model_choices, resolve_models
from inference.catalog import ModelUnavailableError, UnknownModelError
from inference.pricing import cost_range
from inference.tokens import count_prompt_tokens
from inference.backends.base import Message
from playground.conf import playground_settings
from playground.forms import CompareForm
from playground.models import Comparison, Run, Turn
from playground.selectors import comparison_turns

HISTORY_PAGE_SIZE = 20


def _picker_context(request: HttpRequest, initial_models: list[str]) -> dict[str, Any]:
    choices = model_choices()
    by_name = {choice.name: choice for choice in choices}
    selected: list[ModelChoice] = [by_name[name] for name in initial_models if name in by_name]
    return {
        "choices": choices,
        "selected": selected[: playground_settings().max_panels],
        "limits": playground_settings(),
    }


def _initial_from(request: HttpRequest) -> tuple[dict[str, Any], list[str]]:
    """Pre-fill from a deep link (?models=a,b&prompt=...&system=...) or ?from=<id>."""
    initial: dict[str, Any] = {"same_settings": True}
    models = [
        name.strip()
        for value in request.GET.getlist("models")
        for name in value.split(",")
        if name.strip()
    ]
    source_id = request.GET.get("from", "")
    if source_id.isdigit():
        source = get_object_or_404(Comparison, pk=int(source_id), owner=request.user)
        first_turn = source.turns.order_by("index").first()
        runs = Run.objects.filter(comparison=source, superseded=False, turn=first_turn)
        models = [run.model_name for run in runs.order_by("position")]
        initial.update(
            prompt=first_turn.prompt if first_turn else "",
            system=source.system_prompt,
            same_settings=source.same_settings,
        )
        first = runs.first()
        if first is not None:
            initial.update(temperature=first.temperature, max_tokens=first.max_tokens)
    for key in ("prompt", "system"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    return initial, models


@require_GET
def compare_page(request: HttpRequest) -> HttpResponse:
    """A new comparison, optionally pre-filled."""
    initial, models = _initial_from(request)
    context = {
        "form": CompareForm(initial=initial),
        "comparison": None,
        "turns": [],
        **_picker_context(request, models),
    }
    return render(request, "playground/compare.html", context)


@require_GET
def comparison_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved comparison, exactly as it finished; follow-ups and retries continue it."""
    comparison = get_object_or_404(Comparison, pk=pk, owner=request.user)
    context = {
        "form": CompareForm(initial={"comparison": comparison.pk, "same_settings": True}),
        "comparison": comparison,
        "turns": comparison_turns(comparison),
        **_picker_context(request, []),
    }
    return render(request, "playground/compare.html", context)


@require_POST
def estimate(request: HttpRequest) -> HttpResponse:
    """Input tokens and the cost range before sending (an htmx fragment)."""
    data = request.POST
    prompt, system = data.get("prompt", ""), data.get("system", "")
    names = [n.strip() for v in data.getlist("models") for n in v.split(",") if n.strip()]
    tokens = count_prompt_tokens(system or None, [Message(role="user", content=prompt)])
    low_total, high_total, unknown = 0.0, 0.0, []
    error = ""
    try:
        resolved = resolve_models(names[: playground_settings().max_panels]) if names else []
    except (UnknownModelError, ModelUnavailableError) as exc:
        resolved, error = [], str(exc)
    form = CompareForm(data, require_models=False)
    form.is_valid()
    default_max = form.cleaned_data.get("max_tokens") or playground_settings().default_max_tokens
    for model in resolved:
        bounds = cost_range(
            input_tokens=tokens, max_output_tokens=default_max, prices=model.prices
        )
        if bounds is None:
            unknown.append(model.label)
            continue
        low_total += float(bounds[0])
        high_total += float(bounds[1])
    context = {
        "tokens": tokens,
        "count": len(resolved),
        "low": low_total,
        "high": high_total,
        "unknown": unknown,
        "error": error,
        "max_tokens": default_max,
    }
    return render(request, "playground/_estimate.html", context)


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """The user's comparisons, newest first, searchable by prompt; constant queries."""
    query = request.GET.get("q", "").strip()
    comparisons = Comparison.objects.filter(owner=request.user)
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
