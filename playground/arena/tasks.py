"""The background recompute of stale leaderboards, run by `manage.py db_worker --queue-name
arena`; a page never fits.

Idempotent and safe to run twice at once: a compute fits the votes as they are and stores
its result only if the row was not marked stale again meanwhile (`requested` unchanged);
otherwise the row stays queued for the task that mark enqueued."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from itertools import combinations
from typing import Any

from django.db.models import Max
from django.utils import timezone
from django_tasks import task

from playground.arena import ratings
from playground.arena.board_selectors import votes_for
from playground.arena.conf import arena_settings
from playground.arena.leaderboard import KEPT_FRESH_FOR, BoardFilters
from playground.arena.models import Leaderboard, Vote
from playground.arena.style import StyleFeatures

logger = logging.getLogger(__name__)


def _style(styles: Sequence[Any], position: int) -> StyleFeatures | None:
    try:
        return StyleFeatures.from_dict(styles[position])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def vote_battles(
    *, choice: str, sides: Sequence[str], styles: Sequence[Any], winner: int | None
) -> list[ratings.Battle]:
    """One vote as pairwise battles, each pair in the order shown: A or B beat the other
    side; "best of N" beat each other side (ratings.pairwise_from_ranking); a tie or "both
    bad" is that outcome for every pair. Pairs of one model with itself say nothing and are
    left out."""
    if choice in ("tie", "both_bad"):
        even: ratings.Outcome = "tie" if choice == "tie" else "both_bad"
        return [
            ratings.Battle(sides[i], sides[j], even, _style(styles, i), _style(styles, j))
            for i, j in combinations(range(len(sides)), 2)
            if sides[i] != sides[j]
        ]
    if choice == "a":
        winner = 0
    elif choice == "b":
        winner = 1
    if winner is None or not 0 <= winner < len(sides):
        return []
    position = {model: i for i, model in reversed(list(enumerate(sides)))}
    battles: list[ratings.Battle] = []
    for _, second in ratings.pairwise_from_ranking(
        sides[winner], [m for i, m in enumerate(sides) if i != winner]
    ):
        # In the order shown (A before B): the style columns are centred over the battles,
        # so writing every winner first would leave them nothing to tell apart.
        i, j = winner, position[second]
        outcome: ratings.Outcome = "a" if i < j else "b"
        low, high = sorted((i, j))
        battles.append(
            ratings.Battle(
                sides[low], sides[high], outcome, _style(styles, low), _style(styles, high)
            )
        )
    return battles


def battles_for(filters: BoardFilters, *, up_to: int) -> tuple[list[ratings.Battle], int]:
    """The pairwise battles of the votes `filters` selects (up to vote `up_to`), restricted
    to pairs within the model set if it has one; and how many votes gave at least one."""
    wanted = set(filters.models)
    battles: list[ratings.Battle] = []
    votes = 0
    rows = (
        votes_for(filters, up_to=up_to)
        .values("choice", "models_by_position", "styles", "winner__position")
        .iterator(chunk_size=2000)
    )
    for row in rows:
        pairs = vote_battles(
            choice=row["choice"],
            sides=[str(m) for m in row["models_by_position"] or []],
            styles=row["styles"] or [],
            winner=row["winner__position"],
        )
        if wanted:
            pairs = [b for b in pairs if b.model_a in wanted and b.model_b in wanted]
        if pairs:
            votes += 1
            battles.extend(pairs)
    return battles, votes


def fit_json(board: ratings.Leaderboard) -> dict[str, Any]:
    return {
        "ratings": [asdict(rating) for rating in board.ratings],
        "unranked": [[model, count] for model, count in board.unranked],
        "win_rates": [[a, b, rate] for (a, b), rate in board.win_rates.items()],
        "style_coefficients": board.style_coefficients,
        "battles": board.battles,
        "bootstrap_rounds": board.bootstrap_rounds,
    }


def compute(filters: BoardFilters, *, up_to: int) -> dict[str, Any]:
    """The stored result of one board: its plain and style-controlled fits."""
    knobs = arena_settings()
    battles, votes = battles_for(filters, up_to=up_to)
    fits = {
        name: fit_json(
            ratings.fit_leaderboard(
                battles,
                style_control=styled,
                bootstrap_rounds=knobs.bootstrap_rounds,
                min_battles=knobs.min_votes,
            )
        )
        for name, styled in (("plain", False), ("style", True))
    }
    return {**fits, "votes": votes, "min_votes": knobs.min_votes}


def recompute(row: Leaderboard) -> bool:
    """Fit one board and store it, unless it was marked stale again meanwhile."""
    marked = row.requested
    newest = Vote.objects.aggregate(newest=Max("pk"))["newest"] or 0
    result = compute(BoardFilters.from_json(row.filters), up_to=newest)
    stored = Leaderboard.objects.filter(pk=row.pk, requested=marked).update(
        state=Leaderboard.State.READY, result=result, votes_seen=newest, computed=timezone.now()
    )
    return bool(stored)


def recompute_stale() -> int:
    """Recompute every stale (queued) board that a page read lately, oldest request first;
    returns how many it stored. A board nobody looked at for KEPT_FRESH_FOR stays queued
    until a page reads it again (which queues this task)."""
    stored = 0
    looked_at = timezone.now() - KEPT_FRESH_FOR
    stale = Leaderboard.objects.filter(state=Leaderboard.State.QUEUED, viewed__gte=looked_at)
    for row in stale.order_by("requested"):
        try:
            stored += recompute(row)
        except ValueError:
            # A row whose filters no longer parse: it stays queued, and the others go on.
            logger.exception("leaderboard %s could not be computed", row.key)
    return stored


@task(queue_name="arena")
def recompute_leaderboards() -> int:
    return recompute_stale()
