"""The decision view's figures: per model, quality (its leaderboard score and interval)
against p95 total time and cost per 1,000 requests from its measured runs, and which models
are Pareto-optimal. No queries here (see board_selectors.measured_runs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from playground.arena.board_selectors import BoardView, MeasuredRun
from playground.arena.charts import Point
from playground.arena.ratings import Rating
from playground.suites.aggregates import percentile

PER_THOUSAND = 1000


@dataclass(frozen=True)
class Evidence:
    """Where a model's figures come from: comparisons and suite runs with its done runs."""

    comparisons: list[tuple[int, str]] = field(default_factory=list)  # (id, title)
    suite_runs: list[tuple[int, str]] = field(default_factory=list)  # (id, suite name)


@dataclass(frozen=True)
class DecisionRow:
    """One chosen model: its rating (None while unranked), measured figures and evidence.
    `cost_per_1k` is the mean saved cost of its costed runs x 1,000 (None: no run has a
    cost); `costed` says how many of its `runs` had one."""

    model: str
    rating: Rating | None
    runs: int
    p95_total_ms: float | None
    cost_per_1k: Decimal | None
    costed: int
    evidence: Evidence
    pareto_latency: bool = False
    pareto_cost: bool = False


def pareto_front(points: Sequence[tuple[str, float, float]]) -> set[str]:
    """The names whose (quality, x) no other point beats: a point is dominated when another
    has quality at least as high and x at least as low, and is strictly better in one."""
    front: set[str] = set()
    for name, quality, x in points:
        dominated = any(
            other_q >= quality and other_x <= x and (other_q > quality or other_x < x)
            for other, other_q, other_x in points
            if other != name
        )
        if not dominated:
            front.add(name)
    return front


def cost_per_thousand(costs: Sequence[Decimal]) -> Decimal | None:
    if not costs:
        return None
    return (sum(costs, Decimal(0)) / len(costs) * PER_THOUSAND).quantize(Decimal("0.000001"))


def _evidence(runs: Sequence[MeasuredRun], limit: int = 10) -> Evidence:
    comparisons: dict[int, str] = {}
    suites: dict[int, str] = {}
    for run in runs:  # newest first
        if run.suite_run_id is not None:
            suites.setdefault(run.suite_run_id, run.suite_name)
        else:
            comparisons.setdefault(run.comparison_id, run.comparison_title)
    return Evidence(
        comparisons=list(comparisons.items())[:limit], suite_runs=list(suites.items())[:limit]
    )


def decision_rows(
    models: Sequence[str], board: BoardView, runs: Sequence[MeasuredRun]
) -> list[DecisionRow]:
    """One row per chosen model, in the order given, with the Pareto fronts marked (among
    the models that have both a rating and that figure)."""
    by_model: dict[str, list[MeasuredRun]] = {model: [] for model in models}
    for run in runs:
        if run.model in by_model:
            by_model[run.model].append(run)
    rows: list[DecisionRow] = []
    for model in models:
        measured = by_model[model]
        costs = [run.cost for run in measured if run.cost is not None]
        rows.append(
            DecisionRow(
                model=model,
                rating=board.rating_of(model),
                runs=len(measured),
                p95_total_ms=percentile(
                    [run.total_ms for run in measured if run.total_ms is not None], 95
                ),
                cost_per_1k=cost_per_thousand(costs),
                costed=len(costs),
                evidence=_evidence(measured),
            )
        )
    latency, cost = _front(rows, "latency"), _front(rows, "cost")
    return [
        replace(row, pareto_latency=row.model in latency, pareto_cost=row.model in cost)
        for row in rows
    ]


def _figure(row: DecisionRow, figure: str) -> float | None:
    value = row.p95_total_ms if figure == "latency" else row.cost_per_1k
    return None if value is None else float(value)


def _front(rows: Sequence[DecisionRow], figure: str) -> set[str]:
    """The Pareto front among the rows that have both a rating and `figure`."""
    plotted: list[tuple[str, float, float]] = []
    for row in rows:
        value = _figure(row, figure)
        if row.rating is not None and value is not None:
            plotted.append((row.model, row.rating.score, value))
    return pareto_front(plotted)


def points(rows: Sequence[DecisionRow], *, figure: str, href: str = "#evidence-{}") -> list[Point]:
    """The chart's points for one panel: `figure` is "latency" or "cost"."""
    out: list[Point] = []
    for index, row in enumerate(rows):
        value = _figure(row, figure)
        if row.rating is None or value is None:
            continue
        out.append(
            Point(
                label=row.model,
                score=row.rating.score,
                lower=row.rating.lower,
                upper=row.rating.upper,
                x=value,
                href=href.format(index),
                pareto=row.pareto_latency if figure == "latency" else row.pareto_cost,
            )
        )
    return out
