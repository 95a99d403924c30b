"""The arena's Bradley-Terry leaderboard on simulated battles whose true strengths are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from playground.arena.ratings import (
    Battle,
    Leaderboard,
    Outcome,
    fit_leaderboard,
    pairwise_from_ranking,
)
from playground.arena.style import StyleFeatures

# Elo-scale strengths whose mean is 1000, so they are on the fit's scale once it is anchored.
TRUE = {"m1": 1200.0, "m2": 1120.0, "m3": 1040.0, "m4": 960.0, "m5": 880.0, "m6": 800.0}
NAMES = list(TRUE)
# How long each model's answers are on average, in tokens, for the length-decided arena.
VERBOSITY = {"m1": 600, "m2": 450, "m3": 330, "m4": 250, "m5": 180, "m6": 130}


def _pair(rng: np.random.Generator) -> tuple[str, str]:
    first, second = rng.choice(len(NAMES), 2, replace=False)
    return NAMES[first], NAMES[second]


def _a_wins_by_strength(a: str, b: str) -> float:
    return 1.0 / (1.0 + 10.0 ** ((TRUE[b] - TRUE[a]) / 400.0))


def _style(rng: np.random.Generator, mean_length: float = 300.0) -> StyleFeatures:
    return StyleFeatures(
        length=int(rng.lognormal(math.log(mean_length), 0.5)),
        headers=int(rng.integers(0, 4)),
        lists=int(rng.integers(0, 8)),
        bold=int(rng.integers(0, 5)),
    )


def simulate(seed: int, battles: int = 2000, *, styled: bool = False) -> list[Battle]:
    """Battles decided by the true strengths; with `styled`, random styles unrelated to them."""
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(battles):
        a, b = _pair(rng)
        style_a, style_b = (_style(rng), _style(rng)) if styled else (None, None)
        outcome: Outcome = "a" if rng.random() < _a_wins_by_strength(a, b) else "b"
        result.append(Battle(a, b, outcome, style_a, style_b))
    return result


def simulate_length_decides(seed: int, battles: int = 2000) -> list[Battle]:
    """Battles won by the longer answer (its normalised length difference), whoever wrote it."""
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(battles):
        a, b = _pair(rng)
        style_a, style_b = _style(rng, VERBOSITY[a]), _style(rng, VERBOSITY[b])
        ratio = (style_a.length - style_b.length) / (style_a.length + style_b.length)
        outcome: Outcome = "a" if rng.random() < 1.0 / (1.0 + math.exp(-6.0 * ratio)) else "b"
        result.append(Battle(a, b, outcome, style_a, style_b))
    return result


def scores(board: Leaderboard) -> dict[str, float]:
    return {rating.model: rating.score for rating in board.ratings}


def spread(values: dict[str, float]) -> float:
    return max(values.values()) - min(values.values())


def test_recovers_known_strengths_and_their_intervals_cover_them() -> None:
    covered = intervals = 0
    widths = []
    for seed in range(10):
        board = fit_leaderboard(simulate(seed), bootstrap_rounds=100, seed=seed)
        fitted = scores(board)
        assert sorted(fitted, key=fitted.__getitem__, reverse=True) == NAMES
        assert sum(fitted.values()) / len(fitted) == pytest.approx(1000.0)
        for rating in board.ratings:
            assert rating.lower <= rating.score <= rating.upper
            intervals += 1
            covered += rating.lower <= TRUE[rating.model] <= rating.upper
            widths.append(rating.upper - rating.lower)
    assert covered / intervals >= 0.9
    # Intervals wide enough to cover anything would pass the line above; these are not.
    assert sum(widths) / len(widths) < 100.0


def test_the_record_and_the_board_totals() -> None:
    battles = simulate(1, 500)
    board = fit_leaderboard(battles, bootstrap_rounds=20)
    assert board.battles == 500
    assert board.bootstrap_rounds == 20
    assert not board.style_controlled
    assert board.style_coefficients == {}
    assert [rating.rank for rating in board.ratings] == sorted(r.rank for r in board.ratings)
    for rating in board.ratings:
        played = [b for b in battles if rating.model in (b.model_a, b.model_b)]
        won = [
            b
            for b in played
            if (b.outcome == "a" and b.model_a == rating.model)
            or (b.outcome == "b" and b.model_b == rating.model)
        ]
        assert rating.battles == len(played)
        assert rating.wins == len(won)
        assert rating.losses == len(played) - len(won)
        assert rating.ties == 0


def test_win_rates_are_the_observed_shares_with_ties_as_half() -> None:
    battles = [
        *[Battle("A", "B", "a")] * 2,
        Battle("B", "A", "b"),
        Battle("A", "B", "b"),
        Battle("B", "A", "tie"),
        Battle("A", "C", "both_bad"),
    ]
    board = fit_leaderboard(battles, bootstrap_rounds=10, min_battles=0)
    assert board.win_rates[("A", "B")] == pytest.approx(3.5 / 5)
    assert board.win_rates[("B", "A")] == pytest.approx(1.5 / 5)
    assert board.win_rates[("A", "C")] == pytest.approx(0.5)
    assert board.win_rates[("B", "C")] is None
    assert board.win_rates[("C", "B")] is None
    assert len(board.win_rates) == 6


def test_a_pair_that_only_ties_gets_equal_scores() -> None:
    board = fit_leaderboard([Battle("A", "B", "tie")] * 20, bootstrap_rounds=50)
    first, second = board.ratings
    assert first.score == pytest.approx(1000.0, abs=1e-6)
    assert second.score == pytest.approx(1000.0, abs=1e-6)
    assert (first.rank, second.rank) == (1, 1)
    assert (first.ties, first.wins, first.losses) == (20, 0, 0)


def test_a_tied_pair_with_the_same_record_against_a_third_model_stays_level() -> None:
    battles = [Battle("A", "B", "tie")] * 20
    for strong in ("A", "B"):
        battles += [Battle(strong, "C", "a")] * 12 + [Battle("C", strong, "a")] * 4
    fitted = scores(fit_leaderboard(battles, bootstrap_rounds=50))
    assert fitted["A"] == pytest.approx(fitted["B"], abs=0.01)
    assert fitted["A"] > fitted["C"] + 100


def test_both_bad_counts_as_a_tie() -> None:
    battles = simulate(2, 600)
    # Every fifth battle was a draw: once as a tie, once as both answers bad.
    as_ties = [
        Battle(b.model_a, b.model_b, "tie") if i % 5 == 0 else b for i, b in enumerate(battles)
    ]
    as_both_bad = [
        Battle(b.model_a, b.model_b, "both_bad") if i % 5 == 0 else b for i, b in enumerate(battles)
    ]
    assert fit_leaderboard(as_ties, bootstrap_rounds=30) == fit_leaderboard(
        as_both_bad, bootstrap_rounds=30
    )
    # And a tie is not nothing: dropping the draws changes the board.
    decided = [b for i, b in enumerate(battles) if i % 5 != 0]
    assert scores(fit_leaderboard(decided, bootstrap_rounds=30)) != pytest.approx(
        scores(fit_leaderboard(as_ties, bootstrap_rounds=30))
    )


def test_all_ties_put_every_model_level() -> None:
    battles = [Battle(a, b, "tie") for a in "ABCD" for b in "ABCD" if a < b] * 5
    board = fit_leaderboard(battles, bootstrap_rounds=50, min_battles=5)
    assert len(board.ratings) == 4
    for rating in board.ratings:
        assert rating.score == pytest.approx(1000.0, abs=1e-6)
        assert rating.rank == 1


def test_a_model_that_always_wins_stays_finite_and_first() -> None:
    battles = [Battle("W", other, "a") for other in "XYZ" for _ in range(10)]
    battles += [Battle("X", "Y", "a"), Battle("Y", "Z", "b"), Battle("X", "Z", "tie")] * 5
    board = fit_leaderboard(battles, bootstrap_rounds=50)
    top = board.ratings[0]
    assert top.model == "W"
    assert (top.rank, top.wins, top.losses) == (1, 30, 0)
    for rating in board.ratings:
        assert all(map(math.isfinite, (rating.score, rating.lower, rating.upper)))
    assert top.upper < 3000.0
    assert board.ratings[-1].model == "Y"


def test_no_battles_give_an_empty_board() -> None:
    board = fit_leaderboard([])
    assert board == Leaderboard([], [], {}, False, {}, 0, 0)
    assert fit_leaderboard([], anchor="not yet played") == board


def test_one_ranked_model_sits_at_the_anchor() -> None:
    battles = [Battle("A", "B", "a")] * 6 + [Battle("A", "B", "b")] * 4 + [Battle("A", "C", "b")]
    board = fit_leaderboard(battles, bootstrap_rounds=30, min_battles=11)
    (only,) = board.ratings
    assert (only.model, only.rank) == ("A", 1)
    assert (only.score, only.lower, only.upper) == pytest.approx((1000.0, 1000.0, 1000.0))
    assert board.unranked == [("B", 10), ("C", 1)]


def test_models_under_min_battles_are_unranked_but_still_fitted() -> None:
    battles = simulate(3, 600)
    # A newcomer who beat the strongest model five times.
    newcomer = [Battle("new", "m1", "a")] * 5
    board = fit_leaderboard(battles + newcomer, bootstrap_rounds=30, min_battles=10)
    assert board.unranked == [("new", 5)]
    assert "new" not in scores(board)
    assert board.win_rates[("new", "m1")] == 1.0
    m1 = next(rating for rating in board.ratings if rating.model == "m1")
    lost = [
        b
        for b in battles
        if (b.model_a == "m1" and b.outcome == "b") or (b.model_b == "m1" and b.outcome == "a")
    ]
    assert m1.losses == len(lost) + 5
    # Its wins count against m1 in the fit: m1 is lower than without them.
    without = scores(fit_leaderboard(battles, bootstrap_rounds=30))
    assert scores(board)["m1"] < without["m1"]
    assert fit_leaderboard(battles + newcomer, bootstrap_rounds=30, min_battles=5).unranked == []


def test_ranks_tie_where_intervals_overlap() -> None:
    battles = [Battle("A", "B", "a")] * 15 + [Battle("A", "B", "b")] * 15
    for strong in ("A", "B"):
        battles += [Battle(strong, "C", "a")] * 27 + [Battle("C", strong, "a")] * 3
    board = fit_leaderboard(battles, bootstrap_rounds=100)
    ranks = {rating.model: rating.rank for rating in board.ratings}
    assert ranks == {"A": 1, "B": 1, "C": 3}
    a, b, c = (next(r for r in board.ratings if r.model == m) for m in "ABC")
    assert a.lower < b.upper and b.lower < a.upper
    assert c.upper < min(a.lower, b.lower)
    assert board.ratings[-1] == c


def test_the_same_seed_gives_the_same_board_and_another_seed_other_intervals() -> None:
    battles = simulate(4, 400)
    first = fit_leaderboard(battles, bootstrap_rounds=40, seed=7)
    assert fit_leaderboard(battles, bootstrap_rounds=40, seed=7) == first
    other = fit_leaderboard(battles, bootstrap_rounds=40, seed=8)
    assert scores(other) == pytest.approx(scores(first))
    assert [r.lower for r in other.ratings] != [r.lower for r in first.ratings]


def test_an_anchor_model_is_pinned_at_1000_and_the_gaps_are_kept() -> None:
    battles = simulate(5, 800)
    by_mean = scores(fit_leaderboard(battles, bootstrap_rounds=30))
    board = fit_leaderboard(battles, bootstrap_rounds=30, anchor="m4")
    anchored = scores(board)
    assert anchored["m4"] == pytest.approx(1000.0)
    m4 = next(r for r in board.ratings if r.model == "m4")
    assert (m4.lower, m4.upper) == pytest.approx((1000.0, 1000.0))
    for model in NAMES:
        assert anchored[model] - anchored["m1"] == pytest.approx(by_mean[model] - by_mean["m1"])
    with pytest.raises(ValueError, match="anchor model 'nobody'"):
        fit_leaderboard(battles, anchor="nobody")


def test_without_bootstrap_the_interval_is_the_score() -> None:
    board = fit_leaderboard(simulate(6, 300), bootstrap_rounds=0)
    assert board.bootstrap_rounds == 0
    for rating in board.ratings:
        assert rating.lower == rating.upper == rating.score


def test_bad_input_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="two different models"):
        Battle("A", "A", "a")
    with pytest.raises(ValueError, match="outcome is one of"):
        Battle("A", "B", "draw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bootstrap_rounds"):
        fit_leaderboard([], bootstrap_rounds=-1)
    with pytest.raises(ValueError, match="min_battles"):
        fit_leaderboard([], min_battles=-1)


def test_style_control_changes_nothing_material_when_style_is_unrelated_to_the_winner() -> None:
    battles = simulate(7, styled=True)
    plain = fit_leaderboard(battles, bootstrap_rounds=50)
    controlled = fit_leaderboard(battles, bootstrap_rounds=50, style_control=True)
    assert controlled.style_controlled
    assert set(controlled.style_coefficients) == {"length", "headers", "lists", "bold"}
    for coefficient in controlled.style_coefficients.values():
        assert abs(coefficient) < 0.2
    for model, score in scores(plain).items():
        assert scores(controlled)[model] == pytest.approx(score, abs=5.0)


def test_style_control_collapses_models_whose_wins_come_from_length_alone() -> None:
    battles = simulate_length_decides(8)
    plain = scores(fit_leaderboard(battles, bootstrap_rounds=50))
    board = fit_leaderboard(battles, bootstrap_rounds=50, style_control=True)
    controlled = scores(board)
    # Uncontrolled, the verbose models look far stronger, in verbosity's order.
    assert sorted(plain, key=plain.__getitem__, reverse=True) == NAMES
    assert spread(plain) > 300.0
    assert spread(controlled) < 0.2 * spread(plain)
    assert {rating.rank for rating in board.ratings} == {1}
    coefficients = board.style_coefficients
    assert coefficients["length"] > 1.0
    assert coefficients["length"] == max(coefficients.values())


def test_style_control_drops_battles_without_style() -> None:
    styled = simulate(9, 300, styled=True)
    unstyled = simulate(10, 200)
    board = fit_leaderboard(styled + unstyled, bootstrap_rounds=20, style_control=True)
    assert board.battles == 300
    assert sum(rating.battles for rating in board.ratings) == 600
    assert board == fit_leaderboard(styled, bootstrap_rounds=20, style_control=True)
    assert fit_leaderboard(unstyled, style_control=True) == Leaderboard([], [], {}, True, {}, 0, 0)


def test_pairwise_from_ranking_makes_the_winner_beat_each_other() -> None:
    assert pairwise_from_ranking("w", ["a", "w", "b", "a"]) == [("w", "a"), ("w", "b")]
    assert pairwise_from_ranking("w", []) == []
    votes = [pairwise_from_ranking("best", ["x", "y", "z"])] * 4
    votes += [pairwise_from_ranking("x", ["best", "y", "z"])]
    battles = [Battle(a, b, "a") for vote in votes for a, b in vote]
    board = fit_leaderboard(battles, bootstrap_rounds=20, min_battles=0)
    assert board.ratings[0].model == "best"
    assert board.ratings[0].wins == 12
