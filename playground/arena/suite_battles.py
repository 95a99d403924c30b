"""Suites judged blind: battles drawn from a finished suite run's cells, one at a time.

Each battle is one case and two different models of the run, a random done run of each
(one repeat), shown in random order. A pair is drawn once per case; the owner judges them
until none is left."""

from __future__ import annotations

import random
from collections import defaultdict
from itertools import combinations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from playground.arena.models import Battle, BattleSide, Vote
from playground.models import Run
from playground.suites.models import SuiteCase, SuiteRun, SuiteUnit


class SuiteBattleRefused(ValueError):
    """A suite run that cannot be judged (not the user's, or not finished)."""


def judgeable_suite_run(*, user: AbstractBaseUser, suite_run_id: int) -> SuiteRun:
    try:
        suite_run = SuiteRun.objects.select_related("suite").get(pk=suite_run_id, owner_id=user.pk)
    except SuiteRun.DoesNotExist:
        raise SuiteBattleRefused("No such suite run.") from None
    if not suite_run.is_final:
        raise SuiteBattleRefused("A suite run can be judged once it has finished.")
    return suite_run


def _done_cells(suite_run: SuiteRun) -> dict[int, dict[str, list[int]]]:
    """Per case, per model, the ids of its done runs (one per repeat that finished)."""
    cells: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    units = SuiteUnit.objects.filter(
        suite_run=suite_run,
        status=SuiteUnit.Status.FINISHED,
        run__status=Run.Status.DONE,
        run__superseded=False,
    ).values_list("case_id", "model_name", "run_id")
    for case_id, model, run_id in units:
        if run_id is not None:
            cells[case_id][model].append(run_id)
    return cells


def _drawn_pairs(suite_run: SuiteRun, owner_id: int) -> set[tuple[int, frozenset[str]]]:
    sides: dict[int, tuple[int, set[str]]] = {}
    rows = BattleSide.objects.filter(
        battle__suite_run=suite_run, battle__owner_id=owner_id
    ).values_list("battle_id", "battle__case_id", "model_name")
    for battle_id, case_id, model in rows:
        sides.setdefault(battle_id, (case_id, set()))[1].add(model)
    return {(case_id, frozenset(models)) for case_id, models in sides.values()}


def waiting_battle(*, user: AbstractBaseUser, suite_run: SuiteRun) -> Battle | None:
    """The user's battle of this suite run still waiting for their vote, if any."""
    return (
        Battle.objects.filter(suite_run=suite_run, owner_id=user.pk)
        .exclude(votes__board=Vote.Board.HUMAN)
        .order_by("created", "pk")
        .first()
    )


def _candidates(
    suite_run: SuiteRun, owner_id: int
) -> tuple[dict[int, dict[str, list[int]]], list[tuple[int, str, str]]]:
    """The done cells, and the (case, model, model) pairs not drawn yet."""
    cells = _done_cells(suite_run)
    drawn = _drawn_pairs(suite_run, owner_id)
    return cells, [
        (case_id, first, second)
        for case_id, models in sorted(cells.items())
        for first, second in combinations(sorted(models), 2)
        if (case_id, frozenset((first, second))) not in drawn
    ]


def _create(
    suite_run: SuiteRun,
    owner_id: int,
    candidate: tuple[int, str, str],
    cells: dict[int, dict[str, list[int]]],
    rng: random.Random,
) -> Battle:
    case_id, first, second = candidate
    order = [first, second]
    rng.shuffle(order)
    battle = Battle.objects.create(
        owner_id=owner_id,
        suite_run=suite_run,
        case_id=case_id,
        pool=sorted({str(spec["model"]) for spec in suite_run.model_specs}),
    )
    BattleSide.objects.bulk_create(
        BattleSide(
            battle=battle,
            position=position,
            model_name=model,
            run_id=rng.choice(cells[case_id][model]),
        )
        for position, model in enumerate(order)
    )
    return battle


def _locked(user: AbstractBaseUser, suite_run_id: int) -> SuiteRun:
    """The user's finished suite run, its row locked (inside a transaction): two tabs, or
    a tab and the judge command, draw one after the other (PostgreSQL)."""
    locked = SuiteRun.objects.select_for_update().filter(pk=suite_run_id, owner_id=user.pk)
    if not list(locked.values_list("pk", flat=True)):
        raise SuiteBattleRefused("No such suite run.")
    return judgeable_suite_run(user=user, suite_run_id=suite_run_id)


def suite_battle_next(
    *, user: AbstractBaseUser, suite_run_id: int, rng: random.Random | None = None
) -> Battle | None:
    """The owner's next battle of a finished suite run: the one waiting for a vote, or a
    new one drawn from the cases' pairs not drawn yet; None when every pair has been."""
    rng = rng or random.SystemRandom()
    with transaction.atomic():
        suite_run = _locked(user, suite_run_id)
        waiting = waiting_battle(user=user, suite_run=suite_run)
        if waiting is not None:
            return waiting
        cells, candidates = _candidates(suite_run, user.pk)
        if not candidates:
            return None
        return _create(suite_run, user.pk, rng.choice(candidates), cells, rng)


def suite_battles_draw_all(
    *, user: AbstractBaseUser, suite_run_id: int, rng: random.Random | None = None
) -> list[Battle]:
    """Every battle of the suite run (for the LLM judge): the pairs not drawn yet are drawn
    now, each side a random done run; they wait for the owner's blind vote as any other."""
    rng = rng or random.SystemRandom()
    with transaction.atomic():
        suite_run = _locked(user, suite_run_id)
        cells, candidates = _candidates(suite_run, user.pk)
        for candidate in candidates:
            _create(suite_run, user.pk, candidate, cells, rng)
        return list(
            Battle.objects.filter(suite_run=suite_run, owner_id=user.pk)
            .select_related("case")
            .prefetch_related("sides__run")
            .order_by("pk")
        )


def pairs_left(*, user: AbstractBaseUser, suite_run: SuiteRun) -> int:
    """How many case x model pairs are not drawn yet."""
    return len(_candidates(suite_run, user.pk)[1])


def default_category(case: SuiteCase, suite_run: SuiteRun) -> str:
    """A suite battle's vote category: the case's `category` variable, or the suite's name."""
    value = case.vars.get("category") if isinstance(case.vars, dict) else None
    return str(value or suite_run.suite.name)[:50]
