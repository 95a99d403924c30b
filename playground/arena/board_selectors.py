"""Reads for the leaderboards: the votes a board counts, and a stored board as pages show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from playground.arena.leaderboard import BoardFilters
from playground.arena.models import Leaderboard, Vote


def votes_for(filters: BoardFilters, *, up_to: int | None = None) -> QuerySet[Vote]:
    """The votes a board with these filters counts (never excluded ones), up to vote `up_to`.
    The model set is applied per pair, by the compute (a vote's sides are a JSON list)."""
    votes = Vote.objects.filter(board=filters.board, excluded=False)
    if up_to is not None:
        votes = votes.filter(pk__lte=up_to)
    if filters.user_id is not None:
        votes = votes.filter(voter_id=filters.user_id)
    if filters.category:
        votes = votes.filter(category=filters.category)
    if filters.date_from:
        votes = votes.filter(created__date__gte=filters.date_from)
    if filters.date_to:
        votes = votes.filter(created__date__lte=filters.date_to)
    return votes.order_by("pk")


@dataclass(frozen=True)
class RatingRow:
    """One ranked model as the table shows it."""

    model: str
    score: float
    lower: float
    upper: float
    rank: int
    battles: int
    wins: int
    losses: int
    ties: int


@dataclass(frozen=True)
class BoardView:
    """A stored board, one of its two fits (plain or style controlled), as pages read it.
    `ready` is False while it is being (re)computed: the figures are then the previous ones,
    or none at all (`has_result`)."""

    key: str
    ready: bool
    has_result: bool
    style_controlled: bool
    ratings: list[RatingRow]
    unranked: list[tuple[str, int]]
    win_rates: dict[tuple[str, str], float | None]
    style_coefficients: dict[str, float]
    battles: int
    votes: int
    bootstrap_rounds: int
    min_votes: int
    computed: Any  # datetime | None

    @property
    def models(self) -> list[str]:
        """The ranked models, best first, then the unranked ones."""
        return [r.model for r in self.ratings] + [m for m, _ in self.unranked]

    def rating_of(self, model: str) -> RatingRow | None:
        return next((r for r in self.ratings if r.model == model), None)


def board_view(row: Leaderboard, *, style_control: bool) -> BoardView:
    result: dict[str, Any] = row.result or {}
    fit: dict[str, Any] = result.get("style" if style_control else "plain") or {}
    return BoardView(
        key=row.key,
        ready=row.state == Leaderboard.State.READY,
        has_result=bool(fit),
        style_controlled=style_control,
        ratings=[RatingRow(**rating) for rating in fit.get("ratings", [])],
        unranked=[(str(model), int(count)) for model, count in fit.get("unranked", [])],
        win_rates={(a, b): rate for a, b, rate in fit.get("win_rates", [])},
        style_coefficients=dict(fit.get("style_coefficients", {})),
        battles=int(fit.get("battles", 0)),
        votes=int(result.get("votes", 0)),
        bootstrap_rounds=int(fit.get("bootstrap_rounds", 0)),
        min_votes=int(result.get("min_votes", 0)),
        computed=row.computed,
    )
