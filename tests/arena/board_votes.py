"""Votes for the leaderboard tests, as rows (the battle helper's vote_cast is used where a
test needs the real write path)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from playground.arena.models import Battle, BattleSide, Vote
from playground.models import Comparison

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
