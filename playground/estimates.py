"""The cost of a start before it is sent: one estimate for the page and for the limits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from inference.catalog import ResolvedModel
from inference.pricing import cost_range


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """The least (input only) and most (a full max-tokens answer) some panels could cost;
    the labels of models whose cost cannot be known beforehand are listed apart."""

    low: Decimal
    high: Decimal
    priced: int
    unknown: tuple[str, ...]


def estimate_cost(panels: Iterable[tuple[ResolvedModel, int, int]]) -> CostEstimate:
    """`panels`: (model, input tokens, max output tokens) for each panel."""
    low = high = Decimal(0)
    priced, unknown = 0, []
    for model, input_tokens, max_output_tokens in panels:
        bounds = cost_range(
            input_tokens=input_tokens, max_output_tokens=max_output_tokens, prices=model.prices
        )
        if bounds is None:
            unknown.append(model.label)
        else:
            low, high, priced = low + bounds[0], high + bounds[1], priced + 1
    return CostEstimate(low=low, high=high, priced=priced, unknown=tuple(unknown))
