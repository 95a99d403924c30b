"""Cost at volume: a batch-tier figure beside the standard one where the run's price snapshot
lists batch prices, None otherwise, and the snapshot named either way."""

from __future__ import annotations

from decimal import Decimal

from inference.pricing import PriceSnapshot
from playground.suites.aggregates import UnitRow, aggregate

BATCHED = PriceSnapshot(
    input_per_m=Decimal("2.5"),
    output_per_m=Decimal("10"),
    cached_input_per_m=Decimal("1.25"),
    batch_input_per_m=Decimal("1.25"),
    batch_output_per_m=Decimal("5"),
).as_json()
PLAIN = PriceSnapshot(input_per_m=Decimal("2.5"), output_per_m=Decimal("10")).as_json()


def row(run_id: int, prices: dict[str, str | None], *, tokens_in: int, tokens_out: int) -> UnitRow:
    return UnitRow(
        status="done", passed=True, ttft_ms=100.0, total_ms=500.0, tokens_per_s=50.0,
        input_tokens=tokens_in, output_tokens=tokens_out, reasoning_tokens=None,
        cost=Decimal("0.001"), prices=prices, run_id=run_id,
    )  # fmt: skip


def test_the_batch_figure_uses_the_snapshots_batch_prices():
    rows = [row(1, BATCHED, tokens_in=1000, tokens_out=400),
            row(2, BATCHED, tokens_in=3000, tokens_out=600)]  # fmt: skip
    volume = aggregate("openai:gpt-4o", rows, requests_per_day=10_000).volume
    # Means 2000 in, 500 out: standard (2000 x 2.5 + 500 x 10) / 1M = 0.01 a request.
    assert volume.per_day == Decimal("100.00000000")
    assert volume.per_month == Decimal("3000.00000000")
    # Batch: (2000 x 1.25 + 500 x 5) / 1M = 0.005 a request.
    assert volume.batch_per_day == Decimal("50.00000000")
    assert volume.batch_per_month == Decimal("1500.00000000")
    assert volume.prices_from_run == 2 and volume.prices == BATCHED
    assert volume.batch_note.startswith(
        "Batch tier: the provider's batch API at the price snapshot of run 2 "
        "(per 1M tokens: input 1.25, output 5)"
    )


def test_a_cached_share_discounts_the_standard_figure_only_and_the_note_says_so():
    rows = [row(7, BATCHED, tokens_in=2000, tokens_out=500)]
    volume = aggregate("m", rows, requests_per_day=10_000, cached_share=0.5).volume
    # Half the input at the cached price: (1000 x 2.5 + 1000 x 1.25 + 500 x 10) / 1M.
    assert volume.per_day == Decimal("87.50000000")
    assert volume.batch_per_day == Decimal("50.00000000")
    assert "no cached-input discount" in volume.batch_note


def test_no_batch_price_no_batch_figure_and_the_note_names_the_snapshot():
    volume = aggregate("m", [row(3, PLAIN, tokens_in=2000, tokens_out=500)],
                       requests_per_day=10_000).volume  # fmt: skip
    assert volume.per_day == Decimal("100.00000000")
    assert volume.batch_per_day is None and volume.batch_per_month is None
    assert volume.batch_note == (
        "The price snapshot of run 3 lists no batch price, so there is no batch-tier figure."
    )
    # A snapshot saved before batch prices existed reads the same way.
    old = {k: v for k, v in PLAIN.items() if not k.startswith("batch")}
    assert aggregate("m", [row(4, old, tokens_in=1, tokens_out=1)],
                     requests_per_day=1).volume.batch_per_day is None  # fmt: skip


def test_nothing_finished_nothing_projected():
    volume = aggregate("m", [], requests_per_day=10_000).volume
    assert volume.per_day is None and volume.batch_per_day is None
    assert volume.prices_from_run is None
    assert "no price snapshot" in volume.batch_note
