"""Reads for the leaderboards: the votes a board counts, and a stored board as pages show it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Q, QuerySet

from playground.arena.leaderboard import BoardFilters
from playground.arena.models import BattleSide, Leaderboard, Vote
from playground.arena.ratings import Rating
from playground.models import Run


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
class BoardView:
    """A stored board, one of its two fits (plain or style controlled), as pages read it.
    `ready` is False while it is being (re)computed: the figures are then the previous ones,
    or none at all (`has_result`)."""

    key: str
    ready: bool
    has_result: bool
    style_controlled: bool
    ratings: list[Rating]
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

    def rating_of(self, model: str) -> Rating | None:
        return next((r for r in self.ratings if r.model == model), None)


def board_view(row: Leaderboard, *, style_control: bool) -> BoardView:
    result: dict[str, Any] = row.result or {}
    fit: dict[str, Any] = result.get("style" if style_control else "plain") or {}
    return BoardView(
        key=row.key,
        ready=row.state == Leaderboard.State.READY,
        has_result=bool(fit),
        style_controlled=style_control,
        ratings=[Rating(**rating) for rating in fit.get("ratings", [])],
        unranked=[(str(model), int(count)) for model, count in fit.get("unranked", [])],
        win_rates={(a, b): rate for a, b, rate in fit.get("win_rates", [])},
        style_coefficients=dict(fit.get("style_coefficients", {})),
        battles=int(fit.get("battles", 0)),
        votes=int(result.get("votes", 0)),
        bootstrap_rounds=int(fit.get("bootstrap_rounds", 0)),
        min_votes=int(result.get("min_votes", 0)),
        computed=row.computed,
    )


@dataclass(frozen=True)
class MeasuredRun:
    """What the decision view reads of one done run."""

    model: str
    total_ms: float | None
    cost: Decimal | None
    comparison_id: int
    comparison_title: str
    suite_run_id: int | None
    suite_name: str


def measured_runs(*, models: Sequence[str], viewer: AbstractBaseUser) -> list[MeasuredRun]:
    """The done runs of these models, newest first, including suite units: the viewer's own
    (all of them for staff). Runs of a blind battle not voted yet are left out: listing them
    would name its models."""
    runs = Run.objects.filter(
        status=Run.Status.DONE, superseded=False, model_name__in=list(models)
    ).filter(Q(comparison__battle__isnull=True) | Q(comparison__battle__revealed__isnull=False))
    if not getattr(viewer, "is_staff", False):
        runs = runs.filter(comparison__owner_id=viewer.pk)
    rows = runs.order_by("-created", "-pk").values_list(
        "model_name",
        "total_ms",
        "cost",
        "comparison_id",
        "comparison__title",
        "comparison__suite_run__id",
        "comparison__suite_run__suite__name",
    )
    return [
        MeasuredRun(
            model=model,
            total_ms=total_ms,
            cost=cost,
            comparison_id=comparison_id,
            comparison_title=title or f"Comparison {comparison_id}",
            suite_run_id=suite_run_id,
            suite_name=suite_name or "",
        )
        for model, total_ms, cost, comparison_id, title, suite_run_id, suite_name in rows
    ]


def voted_models() -> list[str]:
    """The models of every battle with a vote (human or judge), for the filter form."""
    names = (
        BattleSide.objects.filter(battle__votes__isnull=False)
        .values_list("model_name", flat=True)
        .distinct()
    )
    return sorted(set(names))


def vote_categories() -> list[str]:
    return sorted(
        set(Vote.objects.exclude(category="").values_list("category", flat=True).distinct())
    )


def voters() -> list[tuple[int, str]]:
    """Everyone who voted, for staff's "votes by" choice."""
    users = get_user_model().objects.filter(arena_votes__isnull=False).distinct()
    return [(user.pk, user.get_username()) for user in users.order_by("username")]


def votes_of(*, user: AbstractBaseUser, limit: int = 500) -> QuerySet[Vote]:
    """The user's own votes, newest first, with their battles."""
    return (
        Vote.objects.filter(voter_id=user.pk)
        .select_related("battle", "winner")
        .order_by("-created", "-pk")[:limit]
    )
