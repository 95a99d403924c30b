"""The arena's leaderboard: Bradley-Terry scores, bootstrap intervals, optional style control.

The method is Chatbot Arena's (Chiang et al., "Chatbot Arena: An Open Platform for Evaluating
LLMs by Human Preference", ICML 2024, arXiv:2403.04132; the code is FastChat's
fastchat/serve/monitor/rating_systems.py, and the style control is Li, Angelopoulos and Chiang,
"Does style matter? Disentangling style and substance in Chatbot Arena", LMSYS blog,
2024-08-29, with its public Colab notebook):

- Bradley-Terry by maximum likelihood, as a logistic regression of "a won" on a design row with
  +1 in model a's column and -1 in model b's. A tie, and a "both bad" verdict, counts as half a
  win for each side (a label of 0.5). A small L2 penalty (`L2_PENALTY`, a Gaussian prior)
  makes the fit identifiable, centres it, and keeps a model that never lost finite. It is
  solved by scipy's L-BFGS-B with the analytic gradient.
- Scores are on the Elo scale: 1000 + 400 * log10-odds, shifted so that the ranked models'
  mean is 1000, or so that a named anchor model is at 1000.
- 95% intervals are the 2.5th and 97.5th percentiles of the scores refitted on battles
  resampled with replacement (a seeded numpy Generator), each round anchored the same way.
- A model's rank is 1 + the number of models whose lower bound is above its upper bound, so
  models whose intervals overlap share a rank.
- Style control adds, per style feature, the column (a - b) / (a + b + 1) standardised over the
  battles (as FastChat does), fits it jointly, and reports the model scores with style
  regressed out, and the style coefficients.

No Django imports.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit

from playground.arena.style import StyleFeatures

Outcome = Literal["a", "b", "tie", "both_bad"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

# Model a's share of the win; a tie and a "both bad" verdict are half a win for each side.
_A_SCORE: dict[Outcome, float] = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}

BASE_SCORE = 1000.0
POINTS_PER_LOGIT = 400.0 / math.log(10.0)  # natural log-odds to Elo points
# The penalty's prior has a standard deviation of 1/sqrt(0.1), about 3.2 log-odds (550
# points): negligible next to a few dozen battles, enough to keep an unbeaten model finite.
L2_PENALTY = 0.1
STYLE_FEATURE_NAMES: tuple[str, ...] = tuple(field.name for field in fields(StyleFeatures))

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Battle:
    """One pairwise result: model_a vs model_b (model keys are opaque strings)."""

    model_a: str
    model_b: str
    outcome: Outcome
    style_a: StyleFeatures | None = None
    style_b: StyleFeatures | None = None

    def __post_init__(self) -> None:
        if self.model_a == self.model_b:
            raise ValueError(f"a battle needs two different models, got {self.model_a!r} twice")
        if self.outcome not in OUTCOMES:
            raise ValueError(
                f"a battle's outcome is one of {', '.join(OUTCOMES)}, got {self.outcome!r}"
            )


@dataclass(frozen=True)
class Rating:
    """One ranked model's score, its 95% interval and its record."""

    model: str
    score: float
    lower: float
    upper: float
    rank: int
    battles: int
    wins: int
    losses: int
    ties: int  # ties and "both bad" verdicts


@dataclass(frozen=True)
class Leaderboard:
    """The fitted board: ranked models, the ones with too few battles, and pairwise win rates."""

    ratings: list[Rating]  # sorted by rank, then score
    unranked: list[tuple[str, int]]  # (model, battles), fewer than min_battles
    win_rates: dict[tuple[str, str], float | None]  # a's observed share against b, ties half
    style_controlled: bool
    style_coefficients: dict[str, float]  # log-odds per standard deviation; empty unless styled
    battles: int  # the battles fitted
    bootstrap_rounds: int


def pairwise_from_ranking(winner: str, others: Sequence[str]) -> list[tuple[str, str]]:
    """A "best of N" verdict as pairs (winner, other): the winner beat each of the others.

    The winner itself, if listed among the others, and repeats are left out.
    """
    seen: set[str] = {winner}
    pairs: list[tuple[str, str]] = []
    for other in others:
        if other not in seen:
            seen.add(other)
            pairs.append((winner, other))
    return pairs


def fit_leaderboard(
    battles: Sequence[Battle],
    *,
    style_control: bool = False,
    bootstrap_rounds: int = 200,
    min_battles: int = 10,
    seed: int = 0,
    anchor: str | None = None,
) -> Leaderboard:
    """Fit the leaderboard of `battles` (see the module's docstring for the method).

    With `style_control`, battles lacking either answer's style features are dropped: the
    fit, the records, the win rates and `Leaderboard.battles` cover only the battles with
    both. Models with fewer than `min_battles` battles are fitted (they inform the others'
    scores) but reported as unranked. `anchor` names a model to pin at 1000 instead of the
    ranked models' mean; it must be among the fitted models unless there are none.
    """
    if bootstrap_rounds < 0:
        raise ValueError(f"bootstrap_rounds must be 0 or more, got {bootstrap_rounds}")
    if min_battles < 0:
        raise ValueError(f"min_battles must be 0 or more, got {min_battles}")
    used = [
        battle
        for battle in battles
        if not style_control or (battle.style_a is not None and battle.style_b is not None)
    ]
    if not used:
        return Leaderboard([], [], {}, style_control, {}, 0, 0)
    if anchor is not None and not any(anchor in (b.model_a, b.model_b) for b in used):
        raise ValueError(f"the anchor model {anchor!r} has no battles to fit")

    models = sorted({b.model_a for b in used} | {b.model_b for b in used})
    column = {model: i for i, model in enumerate(models)}
    first = np.array([column[battle.model_a] for battle in used], dtype=np.intp)
    second = np.array([column[battle.model_b] for battle in used], dtype=np.intp)
    a_score = np.array([_A_SCORE[battle.outcome] for battle in used], dtype=np.float64)
    record = _records(used)
    ranked = [m for m in models if record[m].battles >= min_battles]
    unranked = [(m, record[m].battles) for m in models if record[m].battles < min_battles]
    reference = (
        np.array([column[anchor]])
        if anchor is not None
        else np.array([column[m] for m in ranked or models])
    )

    features = _style_matrix(used) if style_control else None
    problem = _Problem.build(first, second, a_score, len(models), features)
    full = problem.fit(np.ones(len(used)))
    scores = _anchored(full[: len(models)], reference)
    if bootstrap_rounds:
        rng = np.random.default_rng(seed)
        rounds = np.empty((bootstrap_rounds, len(models)))
        for r in range(bootstrap_rounds):
            counts = np.bincount(rng.integers(0, len(used), len(used)), minlength=len(used))
            rounds[r] = _anchored(
                problem.fit(counts.astype(np.float64), start=full)[: len(models)], reference
            )
        lower, upper = np.percentile(rounds, [2.5, 97.5], axis=0)
    else:
        lower = upper = scores

    rows = [column[m] for m in ranked]
    ratings = [
        Rating(
            model=models[i],
            score=float(scores[i]),
            lower=float(lower[i]),
            upper=float(upper[i]),
            rank=1 + sum(1 for j in rows if lower[j] > upper[i]),
            battles=record[models[i]].battles,
            wins=record[models[i]].wins,
            losses=record[models[i]].losses,
            ties=record[models[i]].ties,
        )
        for i in rows
    ]
    ratings.sort(key=lambda rating: (rating.rank, -rating.score, rating.model))
    coefficients = (
        {name: float(full[len(models) + k]) for k, name in enumerate(STYLE_FEATURE_NAMES)}
        if style_control
        else {}
    )
    return Leaderboard(
        ratings=ratings,
        unranked=unranked,
        win_rates=_win_rates(used, models),
        style_controlled=style_control,
        style_coefficients=coefficients,
        battles=len(used),
        bootstrap_rounds=bootstrap_rounds,
    )


@dataclass
class _Record:
    battles: int = 0
    wins: int = 0
    losses: int = 0
    ties: int = 0


def _records(battles: Sequence[Battle]) -> dict[str, _Record]:
    records: dict[str, _Record] = {}
    for battle in battles:
        first = records.setdefault(battle.model_a, _Record())
        second = records.setdefault(battle.model_b, _Record())
        first.battles += 1
        second.battles += 1
        if battle.outcome == "a":
            first.wins += 1
            second.losses += 1
        elif battle.outcome == "b":
            first.losses += 1
            second.wins += 1
        else:
            first.ties += 1
            second.ties += 1
    return records


def _win_rates(
    battles: Sequence[Battle], models: Sequence[str]
) -> dict[tuple[str, str], float | None]:
    games: Counter[tuple[str, str]] = Counter()
    points: defaultdict[tuple[str, str], float] = defaultdict(float)
    for battle in battles:
        share = _A_SCORE[battle.outcome]
        games[battle.model_a, battle.model_b] += 1
        games[battle.model_b, battle.model_a] += 1
        points[battle.model_a, battle.model_b] += share
        points[battle.model_b, battle.model_a] += 1.0 - share
    return {
        (first, second): (points[first, second] / games[first, second])
        if games[first, second]
        else None
        for first in models
        for second in models
        if first != second
    }


def _style_matrix(battles: Sequence[Battle]) -> FloatArray:
    """Per battle and feature, (a - b) / (a + b + 1), standardised over the battles."""
    style_a = np.array(
        [[getattr(b.style_a, name) for name in STYLE_FEATURE_NAMES] for b in battles],
        dtype=np.float64,
    )
    style_b = np.array(
        [[getattr(b.style_b, name) for name in STYLE_FEATURE_NAMES] for b in battles],
        dtype=np.float64,
    )
    ratio = (style_a - style_b) / (style_a + style_b + 1.0)
    spread = ratio.std(axis=0)
    # A feature that never differs carries no information: its column stays zero.
    standardised: FloatArray = np.where(
        spread > 0, (ratio - ratio.mean(axis=0)) / np.where(spread > 0, spread, 1.0), 0.0
    )
    return standardised


def _anchored(strengths: FloatArray, reference: IntArray) -> FloatArray:
    points = strengths * POINTS_PER_LOGIT
    anchored: FloatArray = BASE_SCORE + (points - points[reference].mean())
    return anchored


@dataclass(frozen=True)
class _Problem:
    """The penalised logistic regression, on battles grouped by what the fit can tell apart.

    Without style features, battles with the same (a, b, outcome) are one row weighted by
    their count, so a bootstrap round only re-weighs at most 3 rows per pair of models.
    """

    a: IntArray
    b: IntArray
    y: FloatArray
    features: FloatArray  # (style features, rows); no features without style control
    group: IntArray  # each battle's row
    n_models: int

    @classmethod
    def build(
        cls, a: IntArray, b: IntArray, y: FloatArray, n_models: int, features: FloatArray | None
    ) -> _Problem:
        if features is not None:
            return cls(a, b, y, np.ascontiguousarray(features.T), np.arange(len(a)), n_models)
        keys = np.column_stack([a, b, np.rint(y * 2).astype(np.intp)])
        unique, group = np.unique(keys, axis=0, return_inverse=True)
        return cls(
            unique[:, 0],
            unique[:, 1],
            unique[:, 2] / 2.0,
            np.zeros((0, len(unique))),
            group.reshape(-1),
            n_models,
        )

    def fit(self, battle_weights: FloatArray, start: FloatArray | None = None) -> FloatArray:
        """The parameters (model strengths in log-odds, then style coefficients)."""
        weights = np.bincount(self.group, weights=battle_weights, minlength=len(self.a))
        size = self.n_models + len(self.features)
        result = minimize(
            self._loss_and_gradient,
            np.zeros(size) if start is None else start,
            args=(weights,),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 1000, "gtol": 1e-6, "ftol": 1e-10},
        )
        return np.asarray(result.x, dtype=np.float64)

    def _loss_and_gradient(
        self, params: FloatArray, weights: FloatArray
    ) -> tuple[float, FloatArray]:
        # Elementwise products and sums, not BLAS (`@`): OpenBLAS's threads spin on a busy
        # machine and made each fit ten times slower than these vectors need.
        strengths, coefficients = params[: self.n_models], params[self.n_models :]
        logits = strengths[self.a] - strengths[self.b]
        for coefficient, column in zip(coefficients, self.features, strict=True):
            logits += coefficient * column
        # -[y log p + (1 - y) log(1 - p)] with p = expit(logit) is log(1 + e^logit) - y logit.
        loss = float((weights * (np.logaddexp(0.0, logits) - self.y * logits)).sum())
        slope = weights * (expit(logits) - self.y)
        gradient = np.concatenate(
            [
                np.bincount(self.a, weights=slope, minlength=self.n_models)
                - np.bincount(self.b, weights=slope, minlength=self.n_models),
                [float((column * slope).sum()) for column in self.features],
            ]
        )
        loss += 0.5 * L2_PENALTY * float(np.square(params).sum())
        return loss, gradient + L2_PENALTY * params
