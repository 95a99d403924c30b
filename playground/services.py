"""Keyword-only functions that own every write to comparisons and runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models.query import QuerySet
from django.utils import timezone

from inference.backends.base import ChatRequest, Message
from inference.catalog import (
    ModelUnavailableError,
    ResolvedModel,
    UnknownModelError,
    resolve_models,
)
from inference.tokens import count_prompt_tokens
from playground import quotas
from playground.arena import blinding
from playground.arena.blinding import BlindView
from playground.arena.draws import BattleDraft
from playground.estimates import estimate_cost
from playground.forms import CompareRequest
from playground.models import Comparison, Run, Share, Turn


class ComparisonRefused(ValueError):
    """The request is valid but may not run now (a limit, a busy comparison); says why."""


@dataclass(frozen=True, slots=True)
class PanelStart:
    """A run ready to stream: the row, the model to call and what to send it."""

    run: Run
    model: ResolvedModel
    request: ChatRequest
    blind: bool = False  # a panel of a battle not voted on yet (see playground.arena.blinding)


@dataclass(slots=True)
class RunOutcome:
    """Everything a finished (or stopped, or failed) run saves, in one UPDATE."""

    status: str
    text: str = ""
    reasoning: str = ""
    error: str = ""
    error_detail: str = ""  # for staff only (e.g. the address that refused a connection)
    finish_reason: str = ""
    note: str = ""
    ttft_ms: float | None = None
    answer_ttft_ms: float | None = None
    total_ms: float | None = None
    tokens_per_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    tokens_estimated: bool = False
    gpu_seconds: float | None = None
    cost: Decimal | None = None
    cost_source: str = Run.CostSource.UNKNOWN
    retries: int = 0
    retry_wait_ms: float | None = None
    timeline: list[list[float]] = field(default_factory=list)
    started: dt.datetime | None = None
    finished: dt.datetime | None = None


def title_for(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= 120 else line[:119] + "…"


def chat_request(
    *,
    model: ResolvedModel,
    system: str,
    history: Sequence[Message],
    prompt: str,
    temperature: float | None,
    max_tokens: int | None,
) -> ChatRequest:
    """The request one panel sends: its own earlier turns, then the new prompt."""
    messages: list[Message] = []
    for message in [*history, Message(role="user", content=prompt)]:
        if not message.content:
            continue
        if messages and messages[-1].role == message.role:
            # Providers want alternating roles; an empty (failed) answer leaves two user turns.
            merged = messages[-1].content + "\n\n" + message.content
            messages[-1] = Message(role=message.role, content=merged)
        else:
            messages.append(message)
    return ChatRequest(
        model=model.api_name,
        messages=tuple(messages),
        system=system or None,
        temperature=temperature,
        max_tokens=max_tokens,
    )


def _check_limits(
    *, user: AbstractBaseUser, runs: int, estimated_cost: Decimal | None, blind: bool = False
) -> None:
    """The quick read-only check while a start is prepared: pace, live runs, daily spend.

    The one that holds under concurrency is `quotas.reserve`, in plan_save's transaction.
    """
    try:
        quotas.precheck(user_id=user.pk, runs=runs, estimate=estimated_cost)
    except quotas.LimitExceeded as exc:
        raise ComparisonRefused(_refusal(exc, blind=blind)) from None


def _refusal(exc: quotas.LimitExceeded, *, blind: bool) -> str:
    return blinding.refusal_text(str(exc)) if blind else str(exc)


def _estimated_cost(*, panels: Sequence[tuple[ResolvedModel, ChatRequest]]) -> Decimal | None:
    """The most a set of panels could cost: input plus max tokens of output each."""
    cost = estimate_cost(
        (model, count_prompt_tokens(request.system, request.messages), request.max_tokens or 0)
        for model, request in panels
    )
    return cost.high if cost.priced else None


def _new_run(
    *,
    comparison: Comparison,
    turn: Turn,
    position: int,
    model: ResolvedModel,
    temperature: float | None,
    max_tokens: int | None,
    attempt: int = 1,
) -> Run:
    return Run(
        comparison=comparison,
        turn=turn,
        position=position,
        attempt=attempt,
        model_id=model.model_id,
        model_name=model.name,
        model_label=model.label,
        provider_label=model.provider_label,
        provider_kind=model.kind,
        temperature=temperature,
        max_tokens=max_tokens,
        prices=model.prices.as_json(),
    )


@dataclass(slots=True)
class StartPlan:
    """The rows a start will write and the requests it will send.

    Prepared with reads only (validation, limits, history), so the upstream requests can go
    out at once; `plan_save` then writes the rows while the models think, and the database
    never sits between a prompt and its first token.
    """

    comparison: Comparison
    turn: Turn
    starts: list[PanelStart]
    supersedes: int | None = None  # the run a retry replaces
    turn_runs: list[Run] = field(default_factory=list)  # every current run of the turn
    blind: BlindView | None = None  # a battle not voted on yet: shown anonymously
    battle: BattleDraft | None = None  # a new battle, written with the rows

    def __post_init__(self) -> None:
        if not self.turn_runs:
            self.turn_runs = [start.run for start in self.starts]


def _plan(
    *,
    user: AbstractBaseUser,
    comparison: Comparison,
    turn: Turn,
    panels: list[PanelStart],
    blind: BlindView | None = None,
) -> StartPlan:
    _check_limits(
        user=user,
        runs=len(panels),
        estimated_cost=_estimated_cost(panels=[(p.model, p.request) for p in panels]),
        blind=blind is not None,
    )
    if blind is not None:
        panels = [replace(panel, blind=True) for panel in panels]
    return StartPlan(comparison=comparison, turn=turn, starts=panels, blind=blind)


def _resolve_current(*, comparison: Comparison, names: list[str]) -> list[ResolvedModel]:
    """A comparison's own models, afresh; a blind battle's refusal names none of them."""
    try:
        return resolve_models(names)
    except (UnknownModelError, ModelUnavailableError):
        if blinding.is_unrevealed_battle(comparison_id=comparison.pk):
            raise ComparisonRefused(blinding.UNAVAILABLE) from None
        raise


def comparison_prepare(
    *, user: AbstractBaseUser, request: CompareRequest, battle: BattleDraft | None = None
) -> StartPlan:
    """A new comparison: its first turn and one run per panel (not saved yet); with
    `battle`, a blind battle whose sides are the panels (see playground.arena.services)."""
    comparison = Comparison(
        owner_id=user.pk,
        title=title_for(request.prompt),
        system_prompt=request.system,
        same_settings=request.same_settings,
    )
    turn = Turn(comparison=comparison, index=0, prompt=request.prompt)
    panels = [
        PanelStart(
            run=_new_run(
                comparison=comparison,
                turn=turn,
                position=position,
                model=panel.model,
                temperature=panel.temperature,
                max_tokens=panel.max_tokens,
            ),
            model=panel.model,
            request=chat_request(
                model=panel.model,
                system=request.system,
                history=(),
                prompt=request.prompt,
                temperature=panel.temperature,
                max_tokens=panel.max_tokens,
            ),
        )
        for position, panel in enumerate(request.panels)
    ]
    plan = _plan(
        user=user,
        comparison=comparison,
        turn=turn,
        panels=panels,
        blind=battle.view if battle is not None else None,
    )
    plan.battle = battle
    return plan


def current_runs(*, comparison: Comparison) -> list[Run]:
    """The runs shown now: the newest attempt of every panel in every turn."""
    return list(
        Run.objects.filter(comparison=comparison, superseded=False)
        .select_related("turn")
        .order_by("turn__index", "position")
    )


def _history(*, runs: Sequence[Run], position: int, before_turn: int) -> list[Message]:
    messages: list[Message] = []
    for run in runs:
        if run.position == position and run.turn.index < before_turn:
            messages.append(Message(role="user", content=run.turn.prompt))
            messages.append(Message(role="assistant", content=run.text))
    return messages


def followup_prepare(*, user: AbstractBaseUser, comparison_id: int, prompt: str) -> StartPlan:
    """A new turn sent to every panel; each model sees only its own earlier answers.

    The panels' models are resolved afresh: keys and prices as of now.
    """
    comparison = Comparison.objects.get(pk=comparison_id, owner_id=user.pk)
    runs = current_runs(comparison=comparison)
    if any(not run.is_final for run in runs):
        raise ComparisonRefused("Wait for every panel to finish before a follow-up.")
    last_turn = max(run.turn.index for run in runs)
    previous = [run for run in runs if run.turn.index == last_turn]
    names = sorted({r.model_name for r in previous})
    by_name = {m.name: m for m in _resolve_current(comparison=comparison, names=names)}
    turn = Turn(comparison=comparison, index=last_turn + 1, prompt=prompt)
    panels = [
        PanelStart(
            run=_new_run(
                comparison=comparison,
                turn=turn,
                position=run.position,
                model=by_name[run.model_name],
                temperature=run.temperature,
                max_tokens=run.max_tokens,
            ),
            model=by_name[run.model_name],
            request=chat_request(
                model=by_name[run.model_name],
                system=comparison.system_prompt,
                history=_history(runs=runs, position=run.position, before_turn=turn.index),
                prompt=prompt,
                temperature=run.temperature,
                max_tokens=run.max_tokens,
            ),
        )
        for run in previous
    ]
    blind = blinding.blind_view(comparison_id=comparison.pk)
    return _plan(user=user, comparison=comparison, turn=turn, panels=panels, blind=blind)


def retry_prepare(*, user: AbstractBaseUser, run_id: int) -> StartPlan:
    """Run one panel again: the old attempt is kept (its cost was spent) but superseded."""
    old = Run.objects.select_related("comparison", "turn").get(
        pk=run_id, comparison__owner_id=user.pk, superseded=False
    )
    if not old.is_final:
        raise ComparisonRefused("Stop this panel before retrying it.")
    (model,) = _resolve_current(comparison=old.comparison, names=[old.model_name])
    runs = current_runs(comparison=old.comparison)
    start = PanelStart(
        run=_new_run(
            comparison=old.comparison,
            turn=old.turn,
            position=old.position,
            model=model,
            temperature=old.temperature,
            max_tokens=old.max_tokens,
            attempt=old.attempt + 1,
        ),
        model=model,
        request=chat_request(
            model=model,
            system=old.comparison.system_prompt,
            history=_history(runs=runs, position=old.position, before_turn=old.turn.index),
            prompt=old.turn.prompt,
            temperature=old.temperature,
            max_tokens=old.max_tokens,
        ),
    )
    blind = blinding.blind_view(comparison_id=old.comparison_id)
    plan = _plan(user=user, comparison=old.comparison, turn=old.turn, panels=[start], blind=blind)
    plan.supersedes = old.pk
    plan.turn_runs = [
        start.run if run.pk == old.pk else run for run in runs if run.turn_id == old.turn_id
    ]
    return plan


def plan_save(*, plan: StartPlan) -> None:
    """Write a prepared start in one transaction; its rows get their ids.

    The transaction first reserves the start's slot of the pace and its most possible cost
    (quotas.reserve, serialised per user); past a limit it raises ComparisonRefused and
    writes nothing.
    """
    # Counted before the transaction (token counts are cached), so the lock is held briefly.
    reservations = [_estimated_cost(panels=[(s.model, s.request)]) for s in plan.starts]
    with transaction.atomic():
        try:
            quota_start = quotas.reserve(
                user_id=plan.comparison.owner_id, reservations=reservations
            )
        except quotas.LimitExceeded as exc:
            raise ComparisonRefused(_refusal(exc, blind=plan.blind is not None)) from None
        if plan.comparison.pk is None:
            plan.comparison.save()
        else:
            Comparison.objects.filter(pk=plan.comparison.pk).update(updated=timezone.now())
        if plan.turn.pk is None:
            try:
                with transaction.atomic():
                    plan.turn.save()
            except IntegrityError:
                raise ComparisonRefused("Another follow-up was just sent here.") from None
        if plan.supersedes is not None:
            replaced = Run.objects.filter(pk=plan.supersedes, superseded=False).update(
                superseded=True
            )
            if not replaced:
                raise ComparisonRefused("That panel was already retried.")
        runs = Run.objects.bulk_create([start.run for start in plan.starts])
        quotas.record_charges(start=quota_start, runs=runs, reservations=reservations)
        if plan.battle is not None:
            plan.battle.save(comparison=plan.comparison)


def comparison_start(
    *, user: AbstractBaseUser, request: CompareRequest, owner: str = ""
) -> list[PanelStart]:
    """Prepare and save a new comparison in one go (the terminal command's path); `owner`
    names the process that streams it (see playground.durability)."""
    plan = comparison_prepare(user=user, request=request)
    for start in plan.starts:
        start.run.owner = owner
    plan_save(plan=plan)
    return plan.starts


def outcome_fields(outcome: RunOutcome) -> dict[str, object]:
    """The Run columns an outcome sets (the one mapping of outcome to row)."""
    return {name: getattr(outcome, name) for name in RunOutcome.__dataclass_fields__}


def run_finish(*, run_id: int, outcome: RunOutcome) -> None:
    """Save a run's result in one UPDATE; its cost replaces its reservation of the quota.

    A run already given up for lost (swept as interrupted because its process fell silent)
    and then redone elsewhere (superseded) keeps its row: its process only paused, and the
    redo is the answer. Its cost still settles: the provider billed it.
    """
    Run.objects.filter(pk=run_id).exclude(superseded=True, status__in=Run.FINAL_STATUSES).update(
        **outcome_fields(outcome)
    )
    quotas.settle(run_id=run_id, cost=outcome.cost)


@dataclass(frozen=True, slots=True)
class ShareSaved:
    """The link after a save; `replaced` is the link it replaced (revoked), if any."""

    share: Share
    replaced: Share | None = None


def share_save(
    *,
    user: AbstractBaseUser,
    comparison_id: int,
    audience: str,
    expires_in_days: int | None,
    include_system_prompt: bool = False,
    include_owner: bool = False,
) -> ShareSaved:
    """Share a comparison, or change its active link.

    Widening the audience (teammates to anyone) always issues a new token and revokes the
    old one, so a link given to teammates never silently becomes public. Other changes
    (narrowing, expiry, what the page shows) keep the token.
    """
    with transaction.atomic():
        comparison = Comparison.objects.select_for_update().get(pk=comparison_id, owner_id=user.pk)
        if blinding.is_unrevealed_battle(comparison_id=comparison.pk):
            raise ComparisonRefused(
                "A blind battle cannot be shared before its vote: the link would show "
                "what you have not seen yet. Vote first, then share it."
            )
        now = timezone.now()
        expires_at = now + dt.timedelta(days=expires_in_days) if expires_in_days else None
        options = {
            "audience": audience,
            "expires_at": expires_at,
            "include_system_prompt": include_system_prompt,
            "include_owner": include_owner,
        }
        share = active_share(comparison=comparison)
        if share is None:
            return ShareSaved(Share.objects.create(comparison=comparison, **options))
        widened = share.audience == Share.Audience.TEAM and audience == Share.Audience.PUBLIC
        if widened:
            Share.objects.filter(pk=share.pk).update(revoked_at=now)
            share.revoked_at = now
            return ShareSaved(Share.objects.create(comparison=comparison, **options), share)
        for name, value in options.items():
            setattr(share, name, value)
        share.save(update_fields=list(options))
        return ShareSaved(share)


def share_revoke(*, user: AbstractBaseUser, comparison_id: int) -> int:
    """Revoke every live link of a comparison; sharing again makes a new token."""
    comparison = Comparison.objects.get(pk=comparison_id, owner_id=user.pk)
    return Share.objects.filter(comparison=comparison, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def active_share(*, comparison: Comparison) -> Share | None:
    now = timezone.now()
    return (
        Share.objects.filter(comparison=comparison, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .order_by("-created")
        .first()
    )


# Deleting: a comparison, or everything a user made. Their links answer 410 afterwards.


@dataclass(frozen=True, slots=True)
class Deleted:
    comparisons: int
    runs: int
    shares: int


def _delete_comparisons(*, comparisons: QuerySet[Comparison]) -> Deleted:
    """Delete comparisons (turns, runs and shares with them), keeping only a digest of each
    link's token so that the link answers 410. Refused while a panel is still streaming."""
    from playground.models import ShareTombstone, share_token_digest

    ids = list(comparisons.select_for_update().values_list("pk", flat=True))
    live = Run.objects.filter(comparison_id__in=ids, status__in=Run.LIVE_STATUSES).exists()
    if live:
        raise ComparisonRefused("A panel is still streaming: stop it (or let it finish) first.")
    tokens = list(Share.objects.filter(comparison_id__in=ids).values_list("token", flat=True))
    ShareTombstone.objects.bulk_create(
        [ShareTombstone(token_digest=share_token_digest(token)) for token in tokens],
        ignore_conflicts=True,
    )
    runs = Run.objects.filter(comparison_id__in=ids).count()
    Comparison.objects.filter(pk__in=ids).delete()
    return Deleted(comparisons=len(ids), runs=runs, shares=len(tokens))


def comparison_delete(*, user: AbstractBaseUser, comparison_id: int) -> Deleted:
    """Delete one of the user's comparisons; Comparison.DoesNotExist if it is not theirs."""
    with transaction.atomic():
        comparisons = Comparison.objects.filter(pk=comparison_id, owner_id=user.pk)
        if not comparisons.exists():
            raise Comparison.DoesNotExist("No such comparison.")
        return _delete_comparisons(comparisons=comparisons)


def user_data_delete(*, user: AbstractBaseUser) -> Deleted:
    """Delete every comparison, turn, run and share link of the user. The account, its login
    and the limits an admin set stay."""
    with transaction.atomic():
        return _delete_comparisons(comparisons=Comparison.objects.filter(owner_id=user.pk))
