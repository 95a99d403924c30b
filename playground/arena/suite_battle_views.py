"""Suites judged blind: the next battle of a finished suite run (owner only), shown blind as
Model A and Model B, its vote (through services.vote_cast, as every vote), then the reveal."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from playground.arena import services
from playground.arena.models import Battle, Vote
from playground.arena.suite_battles import (
    SuiteBattleRefused,
    default_category,
    judgeable_suite_run,
    pairs_left,
    suite_battle_next,
)
from playground.rendering import render_markdown
from playground.suites.models import SuiteRun
from playground.suites.services import case_prompt

CHOICES = [
    (Vote.Choice.A, "A is better"),
    (Vote.Choice.B, "B is better"),
    (Vote.Choice.TIE, "Tie"),
    (Vote.Choice.BOTH_BAD, "Both are bad"),
]


def _viewer(request: HttpRequest) -> AbstractBaseUser:
    return request.user  # type: ignore[return-value]  # the site requires a login


def _suite_run(request: HttpRequest, pk: int) -> SuiteRun:
    try:
        return judgeable_suite_run(user=_viewer(request), suite_run_id=pk)
    except SuiteBattleRefused as refused:
        raise Http404(str(refused)) from None


def _battle(suite_run: SuiteRun, battle_id: int, user: AbstractBaseUser) -> Battle:
    battle = (
        Battle.objects.filter(pk=battle_id, suite_run=suite_run, owner_id=user.pk)
        .select_related("case")
        .prefetch_related("sides__run")
        .first()
    )
    if battle is None or battle.case is None:
        raise Http404("No such battle.")
    return battle


def judge_next(request: HttpRequest, pk: int) -> HttpResponse:
    """The battle waiting for a vote, or a new one; a page saying so when none is left."""
    user = _viewer(request)
    suite_run = _suite_run(request, pk)
    battle = suite_battle_next(user=user, suite_run_id=suite_run.pk)
    if battle is not None:
        return redirect("arena_suite_battle", pk=suite_run.pk, battle_id=battle.pk)
    return render(request, "arena/suite_judge.html", {"suite_run": suite_run, "battle": None})


def judge_battle(request: HttpRequest, pk: int, battle_id: int) -> HttpResponse:
    user = _viewer(request)
    suite_run = _suite_run(request, pk)
    battle = _battle(suite_run, battle_id, user)
    assert battle.case is not None
    vote = battle.votes.filter(board=Vote.Board.HUMAN).select_related("winner").first()
    system, prompt = case_prompt(battle.case)
    sides = [
        {
            "letter": side.letter,
            "html": render_markdown(side.run.text if side.run else ""),
            # Named only once voted: before, nothing on the page tells the models apart.
            "model": side.model_name if vote is not None else "",
            "won": vote is not None and vote.winner_id == side.pk,
        }
        for side in battle.sides.all()
    ]
    context = {
        "suite_run": suite_run,
        "battle": battle,
        "vote": vote,
        "sides": sides,
        "prompt": prompt,
        "system": system,
        "choices": CHOICES,
        "category": default_category(battle.case, suite_run),
        "pairs_left": pairs_left(user=user, suite_run=suite_run),
    }
    return render(request, "arena/suite_judge.html", context)


@require_POST
def judge_vote(request: HttpRequest, pk: int, battle_id: int) -> HttpResponse:
    user = _viewer(request)
    suite_run = _suite_run(request, pk)
    battle = _battle(suite_run, battle_id, user)
    assert battle.case is not None
    category = request.POST.get("category", "").strip() or default_category(battle.case, suite_run)
    try:
        services.vote_cast(
            user=user,
            battle_id=battle.pk,
            choice=request.POST.get("choice", ""),
            category=category,
        )
    except services.VoteRefused as refused:
        messages.error(request, str(refused))
    return redirect("arena_suite_battle", pk=suite_run.pk, battle_id=battle.pk)
