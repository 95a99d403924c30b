"""Keyword-only functions that own every write to suites and suite runs (the engine's claims
and saves are in playground.suites.engine)."""

from __future__ import annotations

import itertools
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from inference.backends.base import Message
from inference.catalog import (
    ModelUnavailableError,
    ResolvedModel,
    UnknownModelError,
    resolve_models,
)
from inference.tokens import count_prompt_tokens
from playground import quotas
from playground.conf import playground_settings
from playground.estimates import estimate_cost
from playground.models import Comparison, RunCharge, Turn, UserQuota
from playground.services import title_for
from playground.suites.conf import suite_settings
from playground.suites.models import Suite, SuiteCase, SuiteRun, SuiteUnit
from playground.suites.parsing import CaseSpec, render


class SuiteRefused(ValueError):
    """The suite run may not start (a limit, a bad model, a bad setting); the message says why."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model of a suite run, with its parameters as on the compare page."""

    model: str
    temperature: float | None = None
    max_tokens: int | None = None

    def as_json(self) -> dict[str, object]:
        return {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens}


def suite_create(*, user: AbstractBaseUser, name: str, cases: Sequence[CaseSpec]) -> Suite:
    """Save a suite and its cases in one transaction; a name already used makes a new version."""
    name = name.strip()[:200] or "Untitled suite"
    if not cases:
        raise SuiteRefused("A suite needs at least one case.")
    with transaction.atomic():
        latest = Suite.objects.filter(owner_id=user.pk, name=name).aggregate(v=Max("version"))
        suite = Suite.objects.create(owner_id=user.pk, name=name, version=(latest["v"] or 0) + 1)
        SuiteCase.objects.bulk_create(
            SuiteCase(
                suite=suite,
                index=index,
                prompt=case.prompt,
                system=case.system,
                vars=dict(case.vars),
                checks=dict(case.checks),
            )
            for index, case in enumerate(cases)
        )
    return suite


def case_prompt(case: SuiteCase) -> tuple[str, str]:
    """(system, prompt) as sent: the templates with the case's variables filled in."""
    return render(case.system, case.vars), render(case.prompt, case.vars)


def max_tokens_for(spec: dict[str, object]) -> int:
    value = spec.get("max_tokens")
    return int(value) if isinstance(value, int) else playground_settings().default_max_tokens


def unit_reservation(*, model: ResolvedModel, case: SuiteCase, max_tokens: int) -> Decimal | None:
    """The most one unit could cost (input plus a full max-tokens answer); None: no price."""
    system, prompt = case_prompt(case)
    tokens = count_prompt_tokens(system or None, (Message(role="user", content=prompt),))
    cost = estimate_cost([(model, tokens, max_tokens)])
    return cost.high if cost.priced else None


def _resolve(names: Sequence[str]) -> dict[str, ResolvedModel]:
    try:
        return {model.name: model for model in resolve_models(list(dict.fromkeys(names)))}
    except (UnknownModelError, ModelUnavailableError) as exc:
        raise SuiteRefused(str(exc)) from None


def _check_spend(*, user_id: int, estimate: Decimal | None, units: int) -> None:
    """Refuse, with the figures, a suite whose estimate passes what is left of the daily limit."""
    quota = UserQuota.objects.filter(user_id=user_id).first()
    limit = quotas.limits_for(quota).daily_spend
    if limit is None or estimate is None:
        return
    spent = quotas.spent_today(user_id)
    if spent + estimate > limit:
        raise SuiteRefused(
            f"This suite run could cost up to ${estimate:.4f} ({units} answers at their "
            f"max tokens); you have spent ${spent:.4f} today and your limit is "
            f"${limit:.2f} a day. Use fewer cases, models or repeats, or lower max tokens."
        )


def _validate(
    *, models: Sequence[ModelSpec], repeats: int, concurrency: int | None, units: int
) -> int:
    limits = suite_settings()
    if not models:
        raise SuiteRefused("Pick at least one model (--model provider:model).")
    if not 1 <= repeats <= limits.max_repeats:
        raise SuiteRefused(f"Repeats must be between 1 and {limits.max_repeats}.")
    if concurrency is not None and not 1 <= concurrency <= limits.max_concurrency:
        raise SuiteRefused(f"Concurrency must be between 1 and {limits.max_concurrency}.")
    if units > limits.max_units:
        raise SuiteRefused(
            f"That is {units} answers; a suite run may have at most {limits.max_units}."
        )
    most = playground_settings().max_tokens_limit
    for spec in models:
        if spec.max_tokens is not None and not 1 <= spec.max_tokens <= most:
            raise SuiteRefused(f"{spec.model}: max tokens must be between 1 and {most}.")
    return concurrency or limits.concurrency


def suite_run_create(
    *,
    user: AbstractBaseUser,
    suite: Suite,
    models: Sequence[ModelSpec],
    repeats: int = 1,
    concurrency: int | None = None,
    provider_concurrency: dict[str, int] | None = None,
    seed: int | None = None,
) -> SuiteRun:
    """Write a suite run and its units in a shuffled (seeded, recorded) order, reserving its
    estimated cost against the daily limit up front. Nothing is queued (see suite_run_start)."""
    if suite.owner_id != user.pk:
        raise SuiteRefused("No such suite.")
    cases = list(suite.cases.order_by("index"))
    units = len(cases) * len(models) * repeats
    concurrency = _validate(models=models, repeats=repeats, concurrency=concurrency, units=units)
    resolved = _resolve([spec.model for spec in models])
    specs = [spec.as_json() for spec in models]
    seed = secrets.randbits(48) if seed is None else seed
    combos = list(itertools.product(cases, range(len(models)), range(repeats)))
    random.Random(seed).shuffle(combos)
    reservations = [
        unit_reservation(
            model=resolved[models[m].model], case=case, max_tokens=max_tokens_for(specs[m])
        )
        for case, m, _ in combos
    ]
    known = [amount for amount in reservations if amount is not None]
    estimate = sum(known, Decimal(0)) if known else None
    _check_spend(user_id=user.pk, estimate=estimate, units=units)
    with transaction.atomic():
        try:
            # One start of the pace for the whole run, reserving its whole estimate.
            start = quotas.reserve(user_id=user.pk, reservations=[estimate])
        except quotas.LimitExceeded as exc:
            raise SuiteRefused(str(exc)) from None
        comparison = Comparison.objects.create(
            owner_id=user.pk, title=title_for(f"Suite: {suite}"), same_settings=False
        )
        Turn.objects.bulk_create(
            Turn(comparison=comparison, index=case.index, prompt=case_prompt(case)[1])
            for case in cases
        )
        run = SuiteRun.objects.create(
            owner_id=user.pk,
            suite=suite,
            comparison=comparison,
            model_specs=specs,
            repeats=repeats,
            seed=seed,
            concurrency=concurrency,
            provider_concurrency=dict(provider_concurrency or {}),
            default_provider_concurrency=suite_settings().provider_concurrency,
            estimate=estimate,
            reserved=estimate or 0,
            quota_start=start,
        )
        charges = RunCharge.objects.bulk_create(
            RunCharge(start=start, reserved=amount) for amount in reservations
        )
        SuiteUnit.objects.bulk_create(
            SuiteUnit(
                suite_run=run,
                order=order,
                case=case,
                model_index=m,
                model_name=models[m].model,
                provider_slug=resolved[models[m].model].provider_slug,
                repeat=repeat,
                reserved=amount,
                charge=charge,
            )
            for order, ((case, m, repeat), amount, charge) in enumerate(
                zip(combos, reservations, charges, strict=True)
            )
        )
    return run


def suite_run_enqueue(*, suite_run_id: int) -> None:
    """Queue the run's driver task for the workers (manage.py db_worker)."""
    from playground.suites.tasks import drive_suite_run

    transaction.on_commit(lambda: drive_suite_run.enqueue(suite_run_id))


def suite_run_start(
    *,
    user: AbstractBaseUser,
    suite: Suite,
    models: Sequence[ModelSpec],
    repeats: int = 1,
    concurrency: int | None = None,
    provider_concurrency: dict[str, int] | None = None,
    seed: int | None = None,
) -> SuiteRun:
    """Create a suite run and queue it for the background workers."""
    run = suite_run_create(
        user=user,
        suite=suite,
        models=models,
        repeats=repeats,
        concurrency=concurrency,
        provider_concurrency=provider_concurrency,
        seed=seed,
    )
    suite_run_enqueue(suite_run_id=run.pk)
    return run


def _release(units: Sequence[int]) -> None:
    """Units that will not run give their reservation back."""
    RunCharge.objects.filter(
        pk__in=SuiteUnit.objects.filter(pk__in=units).values("charge_id"), run__isnull=True
    ).update(cost=0, settled=True)


def suite_run_cancel(*, user: AbstractBaseUser, suite_run_id: int) -> int:
    """Stop a suite run: no unit starts any more (their reservations are released) and the
    workers stop the running ones, which are saved as stopped. Returns the units cancelled."""
    with transaction.atomic():
        run = SuiteRun.objects.select_for_update().get(pk=suite_run_id, owner_id=user.pk)
        if run.is_final:
            return 0
        pending = list(
            run.units.filter(status=SuiteUnit.Status.PENDING).values_list("pk", flat=True)
        )
        _release(pending)
        SuiteUnit.objects.filter(pk__in=pending).update(status=SuiteUnit.Status.CANCELLED)
        SuiteRun.objects.filter(pk=run.pk).update(
            status=SuiteRun.Status.CANCELLED, error="Cancelled."
        )
        if not run.units.filter(status=SuiteUnit.Status.CLAIMED).exists():
            SuiteRun.objects.filter(pk=run.pk).update(finished=timezone.now())
        return len(pending)


def suite_run_resume(*, user: AbstractBaseUser, suite_run_id: int) -> int:
    """Queue a cancelled or failed run again: units that never ran, and units whose run was
    stopped or interrupted, run (again); finished answers are kept. Returns the units queued."""
    from playground.models import Run

    with transaction.atomic():
        run = SuiteRun.objects.select_for_update().get(pk=suite_run_id, owner_id=user.pk)
        if run.status not in (SuiteRun.Status.CANCELLED, SuiteRun.Status.FAILED):
            raise SuiteRefused("Only a cancelled or failed suite run can be resumed.")
        if run.units.filter(status=SuiteUnit.Status.CLAIMED).exists():
            raise SuiteRefused("Wait for the running answers to stop first.")
        redo = list(
            run.units.filter(status=SuiteUnit.Status.CANCELLED)
            | run.units.filter(
                status=SuiteUnit.Status.FINISHED,
                run__status__in=(Run.Status.STOPPED, Run.Status.INTERRUPTED),
            )
        )
        known = [unit.reserved for unit in redo if unit.reserved is not None]
        estimate = sum(known, Decimal(0)) if known else None
        _check_spend(user_id=user.pk, estimate=estimate, units=len(redo))
        try:
            start = quotas.reserve(user_id=user.pk, reservations=[estimate])
        except quotas.LimitExceeded as exc:
            raise SuiteRefused(str(exc)) from None
        charges = RunCharge.objects.bulk_create(
            RunCharge(start=start, reserved=unit.reserved) for unit in redo
        )
        Run.objects.filter(pk__in=[u.run_id for u in redo if u.run_id]).update(superseded=True)
        for unit, charge in zip(redo, charges, strict=True):
            SuiteUnit.objects.filter(pk=unit.pk).update(
                status=SuiteUnit.Status.PENDING,
                run=None,
                charge=charge,
                claimed_by="",
                check_results=[],
                passed=None,
                finished=None,
            )
        SuiteRun.objects.filter(pk=run.pk).update(
            status=SuiteRun.Status.QUEUED, error="", finished=None
        )
        suite_run_enqueue(suite_run_id=run.pk)
    return len(redo)


# --- Authoring: suites from the page, from the history, and a comparison run N times --------


def literal_case(*, prompt: str, system: str) -> CaseSpec:
    """A case that sends a prompt that is not a template exactly as written, whatever
    braces it holds: each {{name}} in it is given itself as its value (a name written two
    ways, {{a}} and {{ a }}, gets a second variable for the second)."""
    import re

    from playground.suites.parsing import VARIABLE

    values: dict[str, str] = {}

    def keep(match: re.Match[str]) -> str:
        text, key = match.group(0), match.group(1)
        count = 1
        while values.get(key, text) != text:
            count += 1
            key = f"{match.group(1)}.{count}"
        values[key] = text
        return text if key == match.group(1) else "{{" + key + "}}"

    return CaseSpec(
        prompt=VARIABLE.sub(keep, prompt), system=VARIABLE.sub(keep, system), vars=values
    )


@dataclass(frozen=True, slots=True)
class RunEstimate:
    """What a suite run would be before it starts: its answers, the most it could cost
    (every answer at its max tokens, as reserved), and the user's daily limit."""

    cases: int
    models: int
    repeats: int
    units: int
    high: Decimal | None  # over the priced models; None when none is priced
    unpriced: tuple[str, ...]  # labels of the models whose cost cannot be known
    spent_today: Decimal
    daily_limit: Decimal | None

    @property
    def over_limit(self) -> bool:
        """Whether suite_run_create would refuse it for the daily spending limit."""
        if self.daily_limit is None or self.high is None:
            return False
        return self.spent_today + self.high > self.daily_limit


def suite_run_estimate(
    *, user: AbstractBaseUser, suite: Suite, models: Sequence[ModelSpec], repeats: int
) -> RunEstimate:
    """The estimate suite_run_create reserves, without writing anything; SuiteRefused for a
    model that is unknown or cannot run."""
    cases = list(suite.cases.order_by("index"))
    resolved = _resolve([spec.model for spec in models]) if models else {}
    tokens = [
        count_prompt_tokens(system or None, (Message(role="user", content=prompt),))
        for system, prompt in map(case_prompt, cases)
    ]
    high: Decimal | None = None
    unpriced: list[str] = []
    for spec in models:
        model = resolved[spec.model]
        max_tokens = max_tokens_for(spec.as_json())
        cost = estimate_cost([(model, count, max_tokens) for count in tokens])
        if cost.priced:
            high = (high or Decimal(0)) + cost.high * repeats
        elif model.label not in unpriced:
            unpriced.append(model.label)
    quota = UserQuota.objects.filter(user_id=user.pk).first()
    return RunEstimate(
        cases=len(cases),
        models=len(models),
        repeats=repeats,
        units=len(cases) * len(models) * repeats,
        high=high,
        unpriced=tuple(unpriced),
        spent_today=quotas.spent_today(user.pk),
        daily_limit=quotas.limits_for(quota).daily_spend,
    )


def suite_from_comparisons(
    *, user: AbstractBaseUser, name: str, comparison_ids: Sequence[int]
) -> Suite:
    """A suite of the user's own comparisons: each one's first prompt becomes a case, with
    the comparison's system prompt as the case's. Any id not the user's refuses it all."""
    ids = list(dict.fromkeys(comparison_ids))
    if not ids:
        raise SuiteRefused("Tick at least one comparison to save as a suite.")
    limit = suite_settings().max_cases
    if len(ids) > limit:
        raise SuiteRefused(f"{len(ids)} comparisons ticked; a suite has at most {limit} cases.")
    owned = {c.pk: c for c in Comparison.objects.filter(owner_id=user.pk, pk__in=ids)}
    missing = [str(pk) for pk in ids if pk not in owned]
    if missing:
        raise SuiteRefused(f"No such comparison: {', '.join(missing)}. Nothing was saved.")
    first_turns = {t.comparison_id: t for t in Turn.objects.filter(comparison_id__in=ids, index=0)}
    cases: list[CaseSpec] = []
    for pk in ids:
        turn = first_turns.get(pk)
        if turn is None or not turn.prompt.strip():
            raise SuiteRefused(f"Comparison {pk} has no prompt to save. Nothing was saved.")
        cases.append(literal_case(prompt=turn.prompt, system=owned[pk].system_prompt))
    return suite_create(user=user, name=name, cases=cases)


MIN_RUN_N = 2


def suite_run_repeat(*, user: AbstractBaseUser, comparison_id: int, repeats: int) -> SuiteRun:
    """Run a comparison's first prompt `repeats` times on its panels (same models,
    temperature, max tokens and system prompt): a one-case suite, "Repeat of comparison
    <id>", and a suite run queued like any other. Comparison.DoesNotExist unless the user's;
    a refused run saves nothing, not even the suite."""
    from playground.arena.models import Battle
    from playground.selectors import first_turn_runs

    comparison = Comparison.objects.get(pk=comparison_id, owner_id=user.pk)
    most = suite_settings().max_repeats
    if not MIN_RUN_N <= repeats <= most:
        raise SuiteRefused(f"Run it from {MIN_RUN_N} to {most} times.")
    if Battle.objects.filter(comparison_id=comparison.pk, revealed__isnull=True).exists():
        # Its suite run's page would name the models before the vote.
        raise SuiteRefused("This is a blind battle: vote first, then run it again.")
    if SuiteRun.objects.filter(comparison_id=comparison.pk).exists():
        raise SuiteRefused(
            "This comparison holds a suite run's answers: start another run from its suite."
        )
    first_turn, runs = first_turn_runs(comparison)
    if first_turn is None or not runs:
        raise SuiteRefused("This comparison has no answers to repeat yet.")
    case = literal_case(prompt=first_turn.prompt, system=comparison.system_prompt)
    models = [
        ModelSpec(model=run.model_name, temperature=run.temperature, max_tokens=run.max_tokens)
        for run in runs
    ]
    with transaction.atomic():
        suite = suite_create(user=user, name=f"Repeat of comparison {comparison.pk}", cases=[case])
        return suite_run_start(user=user, suite=suite, models=models, repeats=repeats)
