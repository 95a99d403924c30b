"""Pages: thin views over selectors, services and the compare form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponsePermanentRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_POST

from inference.backends.base import Message
from inference.catalog import (
    ModelChoice,
    ModelUnavailableError,
    UnknownModelError,
    model_choices,
    parse_model_list,
    resolve_models,
)
from inference.tokens import count_prompt_tokens
from playground import exports, selectors, services
from playground.arena import battle_selectors, blinding
from playground.conf import playground_settings
from playground.estimates import estimate_cost
from playground.forms import CompareForm, ShareForm
from playground.models import Comparison, Share
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


def _names(names: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _dropped_notice(unknown: list[str], extra: list[str], unavailable: list[str]) -> str:
    """What a deep link asked for that the page could not pre-fill, in plain words."""
    parts: list[str] = []
    if unknown:
        plural = len(unknown) > 1
        parts.append(
            f"{_names(unknown)} {'are' if plural else 'is'} not in the model catalogue, "
            f"so {'they were' if plural else 'it was'} left out."
        )
    if extra:
        limit = playground_settings().max_panels
        parts.append(
            f"A comparison has at most {limit} panels, so {_names(extra)} "
            f"{'were' if len(extra) > 1 else 'was'} left out."
        )
    parts.extend(unavailable)
    return " ".join(parts)


def _picker_context(
    presets: list[tuple[str, float | None, int | None]], *, blind: bool = False
) -> dict[str, Any]:
    # A blind battle's page lists no models at all: its follow-up box needs none.
    choices = [] if blind else model_choices()
    by_name = {choice.name: choice for choice in choices}
    limits = playground_settings()
    known = [
        Preset(by_name[name], temperature, max_tokens)
        for name, temperature, max_tokens in presets
        if name in by_name
    ]
    unknown = list(dict.fromkeys(name for name, _, _ in presets if name not in by_name))
    selected = known[: limits.max_panels]
    extra = [preset.choice.label for preset in known[limits.max_panels :]]
    unavailable = [
        f"{preset.choice.label} cannot run now: {preset.choice.reason}."
        for preset in {p.choice.name: p for p in selected if not p.choice.available}.values()
    ]
    return {
        "choices": choices,
        "selected": selected,
        "limits": limits,
        "dropped": _dropped_notice(unknown, extra, unavailable),
    }


def _prefill_from(comparison: Comparison) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """The first turn of a saved comparison as a new compare form (a blind battle's models
    stay hidden until its vote: only its prompts are taken)."""
    first_turn, runs = selectors.first_turn_runs(comparison)
    if blinding.is_unrevealed_battle(comparison_id=comparison.pk):
        runs = []
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
        (name, None, None) for name in parse_model_list(request.GET.getlist("models"))
    ]
    source_id = request.GET.get("from", "")
    if source_id.isdigit():
        source = get_object_or_404(Comparison, pk=int(source_id), owner_id=_owner(request).pk)
        initial, presets = _prefill_from(source)
    token = request.GET.get("fork", "")
    if token:
        share = selectors.share_by_token(token)
        if share is None or not share.is_active:
            raise Http404("No such shared comparison.")
        initial, presets = _prefill_from(share.comparison)
        if not share.include_system_prompt:
            initial["system"] = ""
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
        "vote_categories": battle_selectors.voter_categories(user_id=_owner(request).pk),
        **_picker_context(presets),
    }
    return render(request, "playground/compare.html", context)


@require_GET
def comparison_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved comparison, exactly as it finished; follow-ups and retries continue it."""
    comparison = get_object_or_404(Comparison, pk=pk, owner_id=_owner(request).pk)
    return comparison_page(request, comparison)


def comparison_page(
    request: HttpRequest, comparison: Comparison, *, battle_notice: str = "", status: int = 200
) -> HttpResponse:
    """A comparison's page; a blind battle's as its voter may see it before the vote."""
    blind = blinding.blind_view(comparison_id=comparison.pk)
    turns = comparison_turns(comparison)
    share = None if blind else services.active_share(comparison=comparison)
    context = {
        "form": CompareForm(initial={"comparison": comparison.pk, "same_settings": True}),
        "comparison": comparison,
        "turns": turns,
        "blind": blind,
        "vote_ready": blind is not None and all(view.finished for view in turns),
        "battle_notice": battle_notice,
        "vote_categories": (
            battle_selectors.voter_categories(user_id=comparison.owner_id) if blind else []
        ),
        "outcome": None if blind else battle_selectors.battle_outcome(comparison_id=comparison.pk),
        "share": share,
        "share_form": ShareForm(
            initial={
                "audience": share.audience if share else Share.Audience.TEAM,
                "include_system_prompt": share.include_system_prompt if share else False,
                "include_owner": share.include_owner if share else False,
            }
        ),
        "share_url": request.build_absolute_uri(f"/s/{share.token}/") if share else "",
        **_picker_context([], blind=blind is not None),
    }
    return render(request, "playground/compare.html", context, status=status)


@require_POST
def share(request: HttpRequest, pk: int) -> HttpResponse:
    form = ShareForm(request.POST)
    if form.is_valid():
        try:
            saved = services.share_save(
                user=_owner(request),
                comparison_id=pk,
                audience=form.cleaned_data["audience"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                include_system_prompt=form.cleaned_data["include_system_prompt"],
                include_owner=form.cleaned_data["include_owner"],
            )
        except Comparison.DoesNotExist:
            raise Http404("No such comparison.") from None
        except services.ComparisonRefused as exc:
            comparison = get_object_or_404(Comparison, pk=pk, owner_id=_owner(request).pk)
            return comparison_page(request, comparison, battle_notice=str(exc), status=400)
        if saved.replaced is not None:
            messages.warning(
                request,
                "Anyone with the link can open it now, so it has a new link: the old one, "
                "given to teammates, stopped working.",
                extra_tags="share",
            )
    elif not selectors.owns_comparison(comparison_id=pk, owner_id=_owner(request).pk):
        raise Http404("No such comparison.")
    return redirect(f"/c/{pk}/#share")


@require_POST
def unshare(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.share_revoke(user=_owner(request), comparison_id=pk)
    except Comparison.DoesNotExist:
        raise Http404("No such comparison.") from None
    return redirect(f"/c/{pk}/#share")


def open_share(request: HttpRequest, token: str) -> Share | HttpResponse:
    """The share behind a link, if this visitor may open it; otherwise the answer to give."""
    shared = selectors.share_by_token(token)
    if shared is None:
        # A deleted comparison keeps only its links' digests: gone (410), not unknown (404).
        if selectors.share_was_deleted(token):
            return render(request, "playground/share_gone.html", {"deleted": True}, status=410)
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
    opened = open_share(request, token)
    if isinstance(opened, HttpResponse):
        return opened
    comparison = opened.comparison
    turns = comparison_turns(comparison)
    models = [run.model_label for run in turns[0].runs] if turns else []
    owner = comparison.owner.get_username() if opened.include_owner else ""
    description = f"{comparison.title[:150]} — {', '.join(models)}"
    context = {
        "comparison": comparison,
        "share": opened,
        "turns": turns,
        "public": opened.audience == Share.Audience.PUBLIC,
        "show_system_prompt": opened.include_system_prompt,
        "owner_name": owner,
        "og_description": f"{description} · shared by {owner}" if owner else description,
    }
    return render(request, "playground/shared.html", context)


def _export(
    comparison: Comparison, fmt: str, *, system_prompt: bool = True, owner: str | None = None
) -> HttpResponse:
    if fmt not in EXPORT_TYPES:
        raise Http404("Unknown export format.")
    turns = comparison_turns(comparison)
    if fmt == "json":
        data = exports.as_json(comparison, turns, system_prompt=system_prompt, owner=owner)
        body = json.dumps(data, indent=2, ensure_ascii=False)
    elif fmt == "csv":
        body = exports.as_csv(turns)
    else:
        body = exports.as_markdown(comparison, turns, system_prompt=system_prompt, owner=owner)
    response = HttpResponse(body, content_type=EXPORT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="comparison-{comparison.pk}.{fmt}"'
    return response


@require_GET
def export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    owner = _owner(request)
    comparison = get_object_or_404(Comparison, pk=pk, owner_id=owner.pk)
    return _export(comparison, fmt, owner=owner.get_username())


@login_not_required
@require_GET
def shared_export(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    opened = open_share(request, token)
    if isinstance(opened, HttpResponse):
        return opened
    return _export(
        opened.comparison,
        fmt,
        system_prompt=opened.include_system_prompt,
        owner=opened.comparison.owner.get_username() if opened.include_owner else None,
    )


@require_POST
def delete_comparison(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one comparison (owner only); its share links answer 410 afterwards."""
    try:
        deleted = services.comparison_delete(user=_owner(request), comparison_id=pk)
    except Comparison.DoesNotExist:
        raise Http404("No such comparison.") from None
    except services.ComparisonRefused as exc:
        messages.error(request, str(exc), extra_tags="share")
        return redirect(f"/c/{pk}/#share")
    links = f" and its {deleted.shares} link{'s' if deleted.shares != 1 else ''}"
    messages.success(
        request, f"Deleted the comparison{links if deleted.shares else ''}.", extra_tags="data"
    )
    return redirect("history")


def my_data(request: HttpRequest) -> HttpResponse:
    """Delete everything the user made: every comparison, run and share link. The account
    stays, and the user stays logged in."""
    user = _owner(request)
    done: services.Deleted | None = None
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm") != "delete":
            error = "Tick the box to confirm: this cannot be undone."
        else:
            try:
                done = services.user_data_delete(user=user)
            except services.ComparisonRefused as exc:
                error = str(exc)
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    context = {"done": done, "error": error, **selectors.user_data_counts(user_id=user.pk)}
    return render(request, "playground/my_data.html", context, status=400 if error else 200)


@login_not_required
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links: send them to the real one."""
    return HttpResponsePermanentRedirect(static("playground/favicon.svg"))


@require_POST
def _is_own_unrevealed_battle(request: HttpRequest, comparison_id: str) -> bool:
    if not comparison_id.isdigit():
        return False
    return selectors.owns_comparison(
        comparison_id=int(comparison_id), owner_id=_owner(request).pk
    ) and blinding.is_unrevealed_battle(comparison_id=int(comparison_id))


def estimate(request: HttpRequest) -> HttpResponse:
    """Input tokens and the cost range before sending (an htmx fragment)."""
    data = request.POST
    limits = playground_settings()
    names = parse_model_list(data.getlist("models"))
    prompt, system = data.get("prompt", ""), data.get("system", "")
    # Said before sending, in the words the server would refuse with.
    problems = [
        f"The {what} is {len(text):,} characters; the limit is {limit:,}. Shorten it to send."
        for what, text, limit in (
            ("prompt", prompt, limits.max_prompt_chars),
            ("system prompt", system, limits.max_system_chars),
        )
        if len(text) > limit
    ]
    if len(names) > limits.max_panels:
        problems.append(
            f"{len(names)} models picked; a comparison has at most {limits.max_panels} panels."
        )
    tokens = (
        0
        if problems  # no counting of an oversized prompt
        else count_prompt_tokens(system or None, [Message(role="user", content=prompt)])
    )
    try:
        resolved = resolve_models(names[: limits.max_panels]) if names else []
    except (UnknownModelError, ModelUnavailableError) as exc:
        resolved = []
        problems.append(str(exc))
    form = CompareForm(data, require_models=False)
    if not form.is_valid():
        for field in ("temperature", "max_tokens"):
            if field in form.errors:
                problems.append(form.error_text_for(field))
    error = " ".join(problems)
    max_tokens = form.cleaned_data.get("max_tokens") or limits.default_max_tokens
    cost = estimate_cost([(model, tokens, max_tokens) for model in resolved])
    context = {
        "tokens": tokens,
        # A follow-up in a blind battle not yet voted on: prices would narrow down the models.
        "blind": _is_own_unrevealed_battle(request, data.get("comparison", "")),
        "count": len(resolved),
        "priced": len(resolved) - len(cost.unknown),
        "low": cost.low,
        "high": cost.high,
        "unknown": list(cost.unknown),
        "error": error,
        "max_tokens": max_tokens,
    }
    return render(request, "playground/_estimate.html", context)


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """The user's comparisons, newest first, searchable by prompt; constant queries."""
    query = request.GET.get("q", "").strip()
    comparisons = selectors.history(owner_id=_owner(request).pk, query=query)
    page = Paginator(comparisons, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "playground/history.html", {"page": page, "query": query})
