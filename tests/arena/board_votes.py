"""Rows for the arena board tests: votes (services.vote_cast is used where a test needs the
real write path), measured runs, and finished suite runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from playground.arena.models import Battle, BattleSide, Vote
from playground.models import Comparison, Run, Turn
from playground.suites.models import Suite, SuiteCase, SuiteRun, SuiteUnit

PLAIN = {"length": 100, "headers": 0, "lists": 0, "bold": 0}
STYLED = {"length": 400, "headers": 3, "lists": 8, "bold": 4}


def vote(
    voter: AbstractBaseUser,
    models: Sequence[str],
    choice: str,
    *,
    winner: int | None = None,
    category: str = "",
    board: str = "human",
    styles: list[dict[str, Any]] | None = None,
    created: dt.datetime | None = None,
    judge_model: str = "",
    swapped: bool = False,
) -> Vote:
    """One revealed compare battle with its vote."""
    comparison = Comparison.objects.create(owner_id=voter.pk, title="battle")
    battle = Battle.objects.create(
        owner_id=voter.pk, comparison=comparison, pool=list(models), revealed=timezone.now()
    )
    sides = [
        BattleSide.objects.create(battle=battle, position=i, model_name=m, panel=i)
        for i, m in enumerate(models)
    ]
    if winner is None and choice in ("a", "b"):
        winner = 0 if choice == "a" else 1
    made = Vote.objects.create(
        battle=battle,
        voter_id=voter.pk,
        board=board,
        choice=choice,
        winner=None if winner is None else sides[winner],
        category=category,
        models_by_position=list(models),
        styles=styles if styles is not None else [PLAIN for _ in models],
        judge_model=judge_model,
        swapped=swapped,
    )
    if created is not None:
        Vote.objects.filter(pk=made.pk).update(created=created)
    return made


def wins(voter: AbstractBaseUser, winner: str, loser: str, times: int, **extra: Any) -> list[Vote]:
    """`times` votes where `winner` beat `loser`, alternating which side it was shown on."""
    return [
        vote(voter, [winner, loser], "a", **extra)
        if i % 2 == 0
        else vote(voter, [loser, winner], "b", **extra)
        for i in range(times)
    ]


def done_run(
    comparison: Comparison,
    turn: Turn,
    position: int,
    model: str,
    *,
    total_ms: float | None = 1000.0,
    cost: Decimal | None = Decimal("0.001"),
    text: str = "an answer",
    status: str = Run.Status.DONE,
) -> Run:
    return Run.objects.create(
        comparison=comparison, turn=turn, position=position, model_name=model,
        model_label=model, provider_label="sim", provider_kind="openai", status=status,
        text=text, total_ms=total_ms, cost=cost,
    )  # fmt: skip


def measured(
    owner: AbstractBaseUser, model: str, figures: Sequence[tuple[float, Decimal | None]]
) -> Comparison:
    """One comparison of `owner` with a done run of `model` per (total_ms, cost)."""
    comparison = Comparison.objects.create(owner_id=owner.pk, title=f"measured {model}")
    for index, (total_ms, cost) in enumerate(figures):
        turn = Turn.objects.create(comparison=comparison, index=index, prompt="p")
        done_run(comparison, turn, 0, model, total_ms=total_ms, cost=cost)
    return comparison


def finished_suite_run(
    owner: AbstractBaseUser,
    models: Sequence[str],
    cases: Sequence[dict[str, Any]],
    *,
    repeats: int = 1,
    status: str = SuiteRun.Status.DONE,
    failed: Collection[tuple[int, str]] = (),
    name: str = "judged",
) -> SuiteRun:
    """A suite run as the engine leaves it: one turn per case, one done run per unit (the
    (case index, model) pairs in `failed` end in error). No answer names its model."""
    suite = Suite.objects.create(owner_id=owner.pk, name=name)
    comparison = Comparison.objects.create(owner_id=owner.pk, title=f"suite {name}")
    suite_run = SuiteRun.objects.create(
        owner_id=owner.pk, suite=suite, comparison=comparison,
        model_specs=[{"model": m} for m in models], repeats=repeats, seed=1, concurrency=2,
        default_provider_concurrency=2, status=status,
    )  # fmt: skip
    order = 0
    for index, data in enumerate(cases):
        case = SuiteCase.objects.create(
            suite=suite, index=index, prompt=data["prompt"], vars=data.get("vars", {})
        )
        turn = Turn.objects.create(comparison=comparison, index=index, prompt=data["prompt"])
        for model_index, model in enumerate(models):
            for repeat in range(repeats):
                bad = (index, model) in failed
                run = done_run(
                    comparison, turn, model_index * repeats + repeat, model,
                    text=f"**Answer** number {order} to case {index}",
                    status=Run.Status.ERROR if bad else Run.Status.DONE,
                    total_ms=500.0 + 100 * model_index, cost=Decimal("0.002"),
                )  # fmt: skip
                SuiteUnit.objects.create(
                    suite_run=suite_run, order=order, case=case, model_index=model_index,
                    model_name=model, provider_slug="sim", repeat=repeat,
                    status=SuiteUnit.Status.FINISHED, run=run, passed=not bad,
                )  # fmt: skip
                order += 1
    return suite_run


def compare_battle(
    voter: AbstractBaseUser,
    models: Sequence[str],
    *,
    total_ms: float | None = 800.0,
    cost: Decimal | None = Decimal("0.001"),
) -> Battle:
    """A blind compare battle whose answers are done, as the compare page leaves it (for
    services.vote_cast)."""
    comparison = Comparison.objects.create(owner_id=voter.pk, title="blind")
    turn = Turn.objects.create(comparison=comparison, index=0, prompt="Say hi")
    battle = Battle.objects.create(owner_id=voter.pk, comparison=comparison, pool=list(models))
    for position, model in enumerate(models):
        done_run(
            comparison, turn, position, model, total_ms=total_ms, cost=cost,
            text=f"**Hi** from side {position}",
        )  # fmt: skip
        BattleSide.objects.create(
            battle=battle, position=position, model_name=model, panel=position
        )
    return battle
