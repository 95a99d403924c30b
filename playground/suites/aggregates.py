"""Per-model figures of a suite run, from its saved runs. No queries here (see selectors)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from inference.pricing import PER_MILLION, PriceSnapshot

DAYS_PER_MONTH = 30


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation (numpy's default); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return round(value, 2)


def mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


@dataclass(frozen=True, slots=True)
class UnitRow:
    """What the aggregates read of one unit and its current run."""

    status: str
    passed: bool | None
    ttft_ms: float | None
    total_ms: float | None
    tokens_per_s: float | None
    input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    cost: Decimal | None
    prices: dict[str, str | None]
    run_id: int | None


@dataclass(frozen=True, slots=True)
class Volume:
    """The cost of `requests_per_day` requests of the measured mean token mix, at the
    standard prices and, where the snapshot lists them, at the batch-API prices (None
    otherwise; `batch_note` says which)."""

    requests_per_day: int
    cached_share: float
    per_day: Decimal | None
    per_month: Decimal | None
    batch_per_day: Decimal | None
    batch_per_month: Decimal | None
    batch_note: str
    prices: dict[str, str | None]
    prices_from_run: int | None  # the run whose price snapshot was used


@dataclass(frozen=True, slots=True)
class ModelAggregate:
    model: str
    requests: int
    finished: int
    errors: int
    pass_rate: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    total_p50: float | None
    total_p95: float | None
    tokens_per_s_p50: float | None
    input_tokens_mean: float | None
    output_tokens_mean: float | None
    reasoning_tokens_mean: float | None
    cost_total: Decimal | None
    cost_per_request: Decimal | None
    cost_unknown: int
    volume: Volume


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.00000001"))


def volume_cost(
    *,
    input_mean: float | None,
    output_mean: float | None,
    prices: PriceSnapshot,
    requests_per_day: int,
    cached_share: float,
) -> Decimal | None:
    """USD a day for that many requests of that token mix; None without token prices."""
    if input_mean is None or output_mean is None:
        return None
    if prices.gpu_hour is not None or prices.input_per_m is None or prices.output_per_m is None:
        return None
    cached_price = (
        prices.cached_input_per_m if prices.cached_input_per_m is not None else prices.input_per_m
    )
    share = Decimal(str(min(max(cached_share, 0.0), 1.0)))
    tokens_in = Decimal(str(input_mean))
    per_request = (
        tokens_in * (1 - share) * prices.input_per_m
        + tokens_in * share * cached_price
        + Decimal(str(output_mean)) * prices.output_per_m
    ) / PER_MILLION
    return _money(per_request * requests_per_day)


def batch_volume_cost(
    *,
    input_mean: float | None,
    output_mean: float | None,
    prices: PriceSnapshot,
    requests_per_day: int,
) -> Decimal | None:
    """USD a day for that many requests through the batch API; None without batch prices.
    Every input token at the batch input price: the price list has no cached batch price."""
    if input_mean is None or output_mean is None or not prices.batch_known:
        return None
    assert prices.batch_input_per_m is not None and prices.batch_output_per_m is not None
    per_request = (
        Decimal(str(input_mean)) * prices.batch_input_per_m
        + Decimal(str(output_mean)) * prices.batch_output_per_m
    ) / PER_MILLION
    return _money(per_request * requests_per_day)


def batch_note(*, prices: PriceSnapshot, from_run: int | None, cached_share: float) -> str:
    """What the batch-tier figure is, or why there is none."""
    if from_run is None:
        return "No finished answer yet, so no price snapshot and no batch-tier figure."
    if not prices.batch_known:
        return (
            f"The price snapshot of run {from_run} lists no batch price, "
            "so there is no batch-tier figure."
        )
    cached = " (no cached-input discount: none is listed for batches)" if cached_share else ""
    return (
        f"Batch tier: the provider's batch API at the price snapshot of run {from_run} "
        f"(per 1M tokens: input {prices.batch_input_per_m}, output "
        f"{prices.batch_output_per_m}){cached}; batch answers come back within hours, "
        "not streamed."
    )


def aggregate(
    model: str,
    rows: Sequence[UnitRow],
    *,
    requests_per_day: int,
    cached_share: float = 0.0,
) -> ModelAggregate:
    """Figures of one model over its finished units (errors count as requests too)."""
    finished = [row for row in rows if row.run_id is not None and row.status != "pending"]
    done = [row for row in finished if row.status == "done"]
    costs = [row.cost for row in finished if row.cost is not None]
    unknown = len(finished) - len(costs)
    total = _money(sum(costs, Decimal(0))) if costs and not unknown else None
    per_request = _money(total / len(finished)) if total is not None and finished else None
    input_mean = mean([float(r.input_tokens) for r in done if r.input_tokens is not None])
    output_mean = mean([float(r.output_tokens) for r in done if r.output_tokens is not None])
    latest = max((row for row in finished if row.prices), key=lambda r: r.run_id or 0, default=None)
    snapshot = PriceSnapshot.from_json(latest.prices) if latest is not None else PriceSnapshot()
    per_day = volume_cost(
        input_mean=input_mean,
        output_mean=output_mean,
        prices=snapshot,
        requests_per_day=requests_per_day,
        cached_share=cached_share,
    )
    batch_per_day = batch_volume_cost(
        input_mean=input_mean,
        output_mean=output_mean,
        prices=snapshot,
        requests_per_day=requests_per_day,
    )
    from_run = latest.run_id if latest is not None else None
    volume = Volume(
        requests_per_day=requests_per_day,
        cached_share=cached_share,
        per_day=per_day,
        per_month=None if per_day is None else _money(per_day * DAYS_PER_MONTH),
        batch_per_day=batch_per_day,
        batch_per_month=None if batch_per_day is None else _money(batch_per_day * DAYS_PER_MONTH),
        batch_note=batch_note(prices=snapshot, from_run=from_run, cached_share=cached_share),
        prices=latest.prices if latest is not None else {},
        prices_from_run=from_run,
    )
    checked = [r for r in finished if r.passed is not None]  # cases with checks
    return ModelAggregate(
        model=model,
        requests=len(finished),
        finished=len(done),
        errors=len(finished) - len(done),
        pass_rate=round(sum(1 for r in checked if r.passed) / len(checked), 4) if checked else None,
        ttft_p50=percentile([r.ttft_ms for r in done if r.ttft_ms is not None], 50),
        ttft_p95=percentile([r.ttft_ms for r in done if r.ttft_ms is not None], 95),
        total_p50=percentile([r.total_ms for r in done if r.total_ms is not None], 50),
        total_p95=percentile([r.total_ms for r in done if r.total_ms is not None], 95),
        tokens_per_s_p50=percentile(
            [r.tokens_per_s for r in done if r.tokens_per_s is not None], 50
        ),
        input_tokens_mean=input_mean,
        output_tokens_mean=output_mean,
        reasoning_tokens_mean=mean(
            [float(r.reasoning_tokens) for r in done if r.reasoning_tokens is not None]
        ),
        cost_total=total,
        cost_per_request=per_request,
        cost_unknown=unknown,
        volume=volume,
    )
