"""Cost maths in Decimal: cached input at its own price, reasoning as output, unknown never 0."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from inference.pricing import PriceSnapshot, TokenCounts, cost_range, run_cost

GPT_4O_MINI = PriceSnapshot(
    input_per_m=Decimal("0.15"), output_per_m=Decimal("0.60"), cached_input_per_m=Decimal("0.075")
)


def test_snapshot_json_round_trip_is_exact() -> None:
    snapshot = PriceSnapshot(
        input_per_m=Decimal("0.150000"),
        output_per_m=Decimal("0.6"),
        cached_input_per_m=None,
        gpu_hour=Decimal("2.49"),
    )
    data = json.loads(json.dumps(snapshot.as_json()))
    assert data == {
        "input_per_m": "0.150000",
        "output_per_m": "0.6",
        "cached_input_per_m": None,
        "gpu_hour": "2.49",
    }
    assert PriceSnapshot.from_json(data) == snapshot


def test_snapshot_from_json_tolerates_missing_and_numeric_values() -> None:
    assert PriceSnapshot.from_json({}) == PriceSnapshot()
    assert PriceSnapshot.from_json({"input_per_m": 1, "output_per_m": 2.5, "other": "x"}) == (
        PriceSnapshot(input_per_m=Decimal(1), output_per_m=Decimal("2.5"))
    )


@pytest.mark.parametrize("bad", ["abc", "-1", "NaN", True, [1]])
def test_snapshot_from_json_rejects_nonsense(bad: object) -> None:
    with pytest.raises(ValueError, match="input_per_m"):
        PriceSnapshot.from_json({"input_per_m": bad})


def test_known() -> None:
    assert GPT_4O_MINI.known
    assert PriceSnapshot(gpu_hour=Decimal(2)).known
    assert not PriceSnapshot(input_per_m=Decimal(1)).known
    assert not PriceSnapshot().known


def test_plain_cost() -> None:
    cost = run_cost(TokenCounts(input_tokens=1_000_000, output_tokens=1_000_000), GPT_4O_MINI)
    assert cost == Decimal("0.75")


def test_cached_input_is_billed_at_its_own_price() -> None:
    counts = TokenCounts(input_tokens=1000, output_tokens=0, cached_input_tokens=400)
    # 600 uncached at 0.15/M + 400 cached at 0.075/M
    assert run_cost(counts, GPT_4O_MINI) == Decimal("0.00012")


def test_cached_input_without_its_own_price_costs_the_input_price() -> None:
    prices = PriceSnapshot(input_per_m=Decimal(1), output_per_m=Decimal(2))
    counts = TokenCounts(input_tokens=1000, output_tokens=0, cached_input_tokens=400)
    assert run_cost(counts, prices) == Decimal("0.001")


def test_reasoning_tokens_are_billed_as_output_once() -> None:
    with_reasoning = TokenCounts(input_tokens=0, output_tokens=1000, reasoning_tokens=800)
    without = TokenCounts(input_tokens=0, output_tokens=1000)
    assert run_cost(with_reasoning, GPT_4O_MINI) == run_cost(without, GPT_4O_MINI)
    assert run_cost(with_reasoning, GPT_4O_MINI) == Decimal("0.0006")


@pytest.mark.parametrize(
    "prices",
    [
        PriceSnapshot(),
        PriceSnapshot(input_per_m=Decimal(1)),
        PriceSnapshot(output_per_m=Decimal(1), cached_input_per_m=Decimal(1)),
    ],
)
def test_unknown_price_gives_none_never_zero(prices: PriceSnapshot) -> None:
    assert run_cost(TokenCounts(input_tokens=10, output_tokens=10), prices) is None
    assert run_cost(TokenCounts(input_tokens=0, output_tokens=0), prices) is None


def test_free_model_costs_zero_not_unknown() -> None:
    free = PriceSnapshot(input_per_m=Decimal(0), output_per_m=Decimal(0))
    assert run_cost(TokenCounts(input_tokens=10, output_tokens=10), free) == Decimal(0)


def test_gpu_hour_cost() -> None:
    prices = PriceSnapshot(gpu_hour=Decimal("3.60"))
    counts = TokenCounts(input_tokens=50, output_tokens=500, gpu_seconds=10.0)
    assert run_cost(counts, prices) == Decimal("0.01")
    assert run_cost(TokenCounts(input_tokens=50, output_tokens=500), prices) is None


def test_cost_range() -> None:
    low, high = cost_range(input_tokens=1000, max_output_tokens=1000, prices=GPT_4O_MINI) or (0, 0)
    assert low == Decimal("0.00015")
    assert high == Decimal("0.00075")
    assert cost_range(input_tokens=10, max_output_tokens=10, prices=PriceSnapshot()) is None
    gpu = PriceSnapshot(gpu_hour=Decimal(1))
    assert cost_range(input_tokens=10, max_output_tokens=10, prices=gpu) is None
