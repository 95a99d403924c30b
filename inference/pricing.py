"""Cost from token counts and a price snapshot, in Decimal. No Django here.

Prices are USD per million tokens (or per GPU-hour for models run on our own GPU).
A missing price makes a cost unknown (None), never zero: zero would read as "free".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

PER_MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)

_PRICE_FIELDS = ("input_per_m", "output_per_m", "cached_input_per_m", "gpu_hour")
# Listed in a snapshot only when the catalogue has them: older snapshots never do.
_BATCH_FIELDS = ("batch_input_per_m", "batch_output_per_m")


def _decimal_or_none(value: object, *, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"Price {field!r} must be a number or a string, not {value!r}.")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"Price {field!r} is not a number: {value!r}.") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"Price {field!r} must be a finite, non-negative number: {value!r}.")
    return price


@dataclass(frozen=True, slots=True)
class PriceSnapshot:
    """The prices a run was (or will be) charged at, frozen when the run starts.

    Token prices are USD per million tokens; `gpu_hour` is USD per GPU-hour and, when
    set, replaces token pricing. A cached-input price of None means "same as input".
    The batch prices (the provider's asynchronous batch API, USD per million tokens) never
    price a run of the playground; they give the batch-tier figures of cost at volume.
    """

    input_per_m: Decimal | None = None
    output_per_m: Decimal | None = None
    cached_input_per_m: Decimal | None = None
    gpu_hour: Decimal | None = None
    batch_input_per_m: Decimal | None = None
    batch_output_per_m: Decimal | None = None

    @property
    def known(self) -> bool:
        """Whether a cost can be worked out at all."""
        if self.gpu_hour is not None:
            return True
        return self.input_per_m is not None and self.output_per_m is not None

    @property
    def batch_known(self) -> bool:
        """Whether a batch-tier cost can be worked out (token prices only)."""
        return (
            self.gpu_hour is None
            and self.batch_input_per_m is not None
            and self.batch_output_per_m is not None
        )

    def as_json(self) -> dict[str, str | None]:
        """A JSON-safe dict; Decimals become strings so no precision is lost. The batch
        prices are listed only when known."""
        data = {
            name: None if (price := getattr(self, name)) is None else str(price)
            for name in _PRICE_FIELDS
        }
        for name in _BATCH_FIELDS:
            if (price := getattr(self, name)) is not None:
                data[name] = str(price)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> PriceSnapshot:
        """The inverse of as_json(); missing keys are unknown prices, unknown keys ignored."""
        return cls(
            **{
                name: _decimal_or_none(data.get(name), field=name)
                for name in (*_PRICE_FIELDS, *_BATCH_FIELDS)
            }
        )


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """What a run used. input includes cached input; output includes reasoning."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    gpu_seconds: float | None = None


def run_cost(counts: TokenCounts, prices: PriceSnapshot) -> Decimal | None:
    """USD for one run, or None when a price it needs is unknown."""
    if prices.gpu_hour is not None:
        if counts.gpu_seconds is None:
            return None
        return Decimal(str(counts.gpu_seconds)) * prices.gpu_hour / SECONDS_PER_HOUR
    if prices.input_per_m is None or prices.output_per_m is None:
        return None
    cached = min(max(counts.cached_input_tokens, 0), counts.input_tokens)
    cached_price = (
        prices.cached_input_per_m if prices.cached_input_per_m is not None else prices.input_per_m
    )
    # Reasoning tokens are part of the output tokens on every provider (OpenAI's
    # completion_tokens_details.reasoning_tokens, Anthropic's output_tokens, Gemini's
    # thoughtsTokenCount billed as output: see each provider's usage documentation),
    # so they are billed as output here and never added a second time.
    per_million_total = (
        (counts.input_tokens - cached) * prices.input_per_m
        + cached * cached_price
        + counts.output_tokens * prices.output_per_m
    )
    return per_million_total / PER_MILLION


def cost_range(
    *, input_tokens: int, max_output_tokens: int, prices: PriceSnapshot
) -> tuple[Decimal, Decimal] | None:
    """The cost before sending: (input only, input plus a full max_output_tokens answer).

    None when the price is unknown or charged per GPU-hour (unknowable in advance).
    """
    if prices.gpu_hour is not None or not prices.known:
        return None
    low = run_cost(TokenCounts(input_tokens=input_tokens, output_tokens=0), prices)
    high = run_cost(
        TokenCounts(input_tokens=input_tokens, output_tokens=max(max_output_tokens, 0)), prices
    )
    assert low is not None and high is not None  # known token prices always give a cost
    return low, high
