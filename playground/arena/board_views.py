"""The leaderboard, its fragment (polled while it is recomputed), the user's own votes and
the decision view. Thin: the filters come from BoardFilterForm, the boards from
leaderboard_for (which never fits), the figures from board_selectors and decision."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import SafeString

from playground.arena import board_selectors, decision
from playground.arena.board_forms import BoardFilterForm
from playground.arena.board_selectors import BoardView
from playground.arena.charts import decision_panel, heat_class, interval_bar
from playground.arena.leaderboard import BoardFilters, leaderboard_for
from playground.arena.ratings import Rating

POLL_SECONDS = 2


def model_anchor(model: str) -> str:
    """The id of a model's leaderboard row (the decision view links to it)."""
    return "model-" + re.sub(r"[^A-Za-z0-9_.-]", "-", model)


@dataclass(frozen=True)
class TableRow:
    rating: Rating
    anchor: str
    bar: SafeString


@dataclass(frozen=True)
class HeatCell:
    other: str
    rate: float | None
    percent: str
    css: str


def _viewer(request: HttpRequest) -> AbstractBaseUser:
    return request.user  # type: ignore[return-value]  # the site requires a login


def _form(
    request: HttpRequest, *, board: str | None = None
) -> tuple[BoardFilterForm, BoardFilters]:
    viewer = _viewer(request)
    data = request.GET.copy()
    if board is not None:
        data["board"] = board
    form = BoardFilterForm(
        data,
        viewer=viewer,
        model_choices=board_selectors.voted_models(),
        voters=board_selectors.voters() if getattr(viewer, "is_staff", False) else (),
    )
    filters = form.filters() if form.is_valid() else BoardFilters(board=board or "human")
    return form, filters


def _board_context(request: HttpRequest, filters: BoardFilters) -> dict[str, Any]:
    row = leaderboard_for(filters)
    board = board_selectors.board_view(row, style_control=filters.style_control)
    low = min((r.lower for r in board.ratings), default=0.0)
    high = max((r.upper for r in board.ratings), default=1.0)
    low, high = low - (high - low) * 0.05, high + (high - low) * 0.05
    table = [
        TableRow(
            rating=rating,
            anchor=model_anchor(rating.model),
            bar=interval_bar(
                score=rating.score, lower=rating.lower, upper=rating.upper, low=low, high=high
            ),
        )
        for rating in board.ratings
    ]
    models = [rating.model for rating in board.ratings]
    heatmap = [
        (
            first,
            [
                HeatCell(
                    other=second,
                    rate=(rate := board.win_rates.get((first, second))),
                    percent="" if rate is None else f"{rate * 100:.0f}%",
                    css="heat-self" if first == second else heat_class(rate),
                )
                for second in models
            ],
        )
        for first in models
    ]
    return {
        "board": board,
        "filters": filters,
        "table": table,
        "heatmap": heatmap,
        "query": request.GET.urlencode(),
        "fragment_url": reverse("arena_board_fragment"),
        "poll_seconds": POLL_SECONDS,
    }


def leaderboard(request: HttpRequest) -> HttpResponse:
    form, filters = _form(request)
    tabs = []
    for name, label in (("human", "Human votes"), ("judge", "LLM judge")):
        query = request.GET.copy()
        query["board"] = name
        tabs.append({"name": name, "label": label, "query": query.urlencode()})
    context = {"form": form, "tabs": tabs, **_board_context(request, filters)}
    return render(request, "arena/leaderboard.html", context)


def board_fragment(request: HttpRequest) -> HttpResponse:
    """The board alone: the leaderboard page polls it while the board is recomputed."""
    _, filters = _form(request)
    return render(request, "arena/_board.html", _board_context(request, filters))


def my_votes(request: HttpRequest) -> HttpResponse:
    votes = board_selectors.votes_of(user=_viewer(request))
    rows = [
        {
            "vote": vote,
            "battle_url": (
                reverse("comparison", args=[vote.battle.comparison_id])
                if vote.battle.comparison_id
                else reverse("arena_suite_battle", args=[vote.battle.suite_run_id, vote.battle_id])
            ),
            "winner": vote.winner.letter if vote.winner else "",
            # A judge's vote on a battle its owner has not voted on yet: still blind.
            "blind": vote.battle.revealed is None,
        }
        for vote in votes
    ]
    return render(request, "arena/votes.html", {"rows": rows})


def _decision_context(request: HttpRequest, filters: BoardFilters) -> dict[str, Any]:
    viewer = _viewer(request)
    human = filters.replace(board="human", models=())
    board: BoardView = board_selectors.board_view(
        leaderboard_for(human), style_control=filters.style_control
    )
    chosen = list(filters.models) or [rating.model for rating in board.ratings]
    runs = board_selectors.measured_runs(models=chosen, viewer=viewer)
    rows = decision.decision_rows(chosen, board, runs)
    leaderboard_url = reverse("arena_leaderboard")
    return {
        "board": board,
        "rows": [
            {
                "row": row,
                "anchor": f"evidence-{index}",
                "board_link": f"{leaderboard_url}#{model_anchor(row.model)}",
            }
            for index, row in enumerate(rows)
        ],
        "chosen": set(chosen),
        "choices": board.models,
        "latency_chart": decision_panel(
            decision.points(rows, figure="latency"),
            title="Quality against p95 total time",
            x_label="p95 total time",
            x_format="ms",
            panel_id="chart-latency",
        ),
        "cost_chart": decision_panel(
            decision.points(rows, figure="cost"),
            title="Quality against cost per 1,000 requests",
            x_label="cost per 1,000 requests (USD)",
            x_format="usd",
            panel_id="chart-cost",
        ),
        "all_runs": getattr(viewer, "is_staff", False),
    }


def decision_view(request: HttpRequest) -> HttpResponse:
    form, filters = _form(request, board="human")
    context = {"form": form, "filters": filters, **_decision_context(request, filters)}
    return render(request, "arena/decision.html", context)
