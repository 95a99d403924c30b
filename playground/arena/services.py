"""Writes of the blind arena: a blind battle's start (drawn from a pool) and its one vote."""

from __future__ import annotations

from dataclasses import replace

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from playground.arena import leaderboard
from playground.arena.draws import BattleDraft, DrawRefused, draw
from playground.arena.models import Battle, BattleSide, Vote
from playground.arena.style import style_features
from playground.conf import playground_settings
from playground.forms import CompareRequest
from playground.models import Run
from playground.services import ComparisonRefused, StartPlan, comparison_prepare

MAX_CATEGORY_CHARS = 50  # Vote.category


class VoteRefused(ValueError):
    """A vote that cannot be counted; the message says why, for the voter."""


def battle_prepare(*, user: AbstractBaseUser, request: CompareRequest) -> StartPlan:
    """A new blind battle: `request.battle_size` models of its pool (`request.panels`)
    drawn at random, in a random panel order, every side with the same settings. Saved by
    `plan_save` with the runs: the comparison, its battle and sides in one transaction."""
    names = [panel.model.name for panel in request.panels]
    if len(set(names)) != len(names):
        raise ComparisonRefused("A blind battle's pool lists each model once.")
    try:
        drawn = draw(request.panels, request.battle_size)
    except DrawRefused as exc:
        raise ComparisonRefused(str(exc)) from None
    # One max tokens for all: a model's own lower cap would otherwise tell it apart.
    max_tokens = min(panel.max_tokens for panel in drawn)
    panels = tuple(replace(panel, max_tokens=max_tokens) for panel in drawn)
    battle = BattleDraft(
        owner_id=user.pk,
        pool=names,
        model_names=[panel.model.name for panel in panels],
        show_timing=playground_settings().arena_show_timing,
    )
    request = replace(request, panels=panels, same_settings=True)
    return comparison_prepare(user=user, request=request, battle=battle)


def _winner(
    choice: str, winner_position: int | None, sides: list[BattleSide]
) -> tuple[str, BattleSide | None]:
    """The vote's choice as stored, and the side it names (None for a tie or all bad)."""
    pair = len(sides) == 2
    if choice == Vote.Choice.BEST and pair and winner_position in (0, 1):
        choice = Vote.Choice.A if winner_position == 0 else Vote.Choice.B
    if choice in (Vote.Choice.A, Vote.Choice.B):
        if not pair:
            raise VoteRefused(
                f"This battle has {len(sides)} models: pick the best one, a tie or all bad."
            )
        position = 0 if choice == Vote.Choice.A else 1
        if winner_position not in (None, position):
            raise VoteRefused("That vote names one model as better and another as the winner.")
        return choice, sides[position]
    if choice in (Vote.Choice.TIE, Vote.Choice.BOTH_BAD):
        if winner_position is not None:
            raise VoteRefused("A tie or an all-bad vote has no winner.")
        return choice, None
    if choice == Vote.Choice.BEST:
        if winner_position is None or not 0 <= winner_position < len(sides):
            raise VoteRefused(
                f"Pick the best of the {len(sides)} models (A to {sides[-1].letter})."
            )
        return choice, sides[winner_position]
    raise VoteRefused(
        "Unknown vote: choose A better, B better, tie or both bad (or the best of N)."
    )


def _conversation_texts(battle: Battle, sides: list[BattleSide]) -> list[str]:
    """Each side's whole conversation: its answers to every turn, in order. Refused while
    any is not final (a follow-up may come before the vote; the vote judges all of it)."""
    not_final = VoteRefused("Wait for every answer to finish before you vote.")
    if battle.comparison_id is not None:
        runs = list(
            Run.objects.filter(comparison_id=battle.comparison_id, superseded=False).order_by(
                "turn__index", "position"
            )
        )
        texts = []
        for side in sides:
            own = [run for run in runs if run.position == side.panel]
            if not own or any(not run.is_final for run in own):
                raise not_final
            texts.append("\n\n".join(run.text for run in own if run.text))
        return texts
    side_runs = [side.run for side in sides]
    if any(run is None or not run.is_final for run in side_runs):
        raise not_final
    return [run.text for run in side_runs if run is not None]


def vote_cast(
    *,
    user: AbstractBaseUser,
    battle_id: int,
    choice: str,
    winner_position: int | None = None,
    category: str = "",
) -> Vote:
    """The battle's one vote, by its voter, once every answer is final; it reveals the
    battle. Stores the sides' models and style features. Raises VoteRefused."""
    category = " ".join(category.split())
    if len(category) > MAX_CATEGORY_CHARS:
        raise VoteRefused(f"A category is at most {MAX_CATEGORY_CHARS} characters.")
    with transaction.atomic():
        battle = Battle.objects.select_for_update().filter(pk=battle_id).first()
        if battle is None:
            raise VoteRefused("No such battle.")
        if battle.owner_id != user.pk:
            raise VoteRefused("Only the person this battle was shown to can vote on it.")
        voted = battle.votes.filter(board=Vote.Board.HUMAN).exists()
        if battle.revealed is not None or voted:
            raise VoteRefused("This battle already has its vote.")
        sides = list(
            BattleSide.objects.filter(battle=battle).select_related("run").order_by("position")
        )
        choice, winner = _winner(choice, winner_position, sides)
        texts = _conversation_texts(battle, sides)
        try:
            with transaction.atomic():
                vote = Vote.objects.create(
                    battle=battle,
                    voter_id=user.pk,
                    board=Vote.Board.HUMAN,
                    choice=choice,
                    winner=winner,
                    category=category,
                    models_by_position=[side.model_name for side in sides],
                    styles=[style_features(text).as_dict() for text in texts],
                )
        except IntegrityError:  # a second vote racing this one
            raise VoteRefused("This battle already has its vote.") from None
        battle.revealed = timezone.now()
        battle.save(update_fields=["revealed"])
        transaction.on_commit(leaderboard.votes_changed)
    return vote
