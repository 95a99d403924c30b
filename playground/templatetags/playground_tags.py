"""Number formatting for metrics: tabular, short, honest about unknowns.

A figure that was not measured or has no price is always written `MISSING` ("unknown"), in
pages, summaries, Markdown exports and the terminal; JSON says `null` and CSV leaves the cell
empty.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import template

register = template.Library()

MISSING = "unknown"
NOT_BILLED = "not billed"


@register.filter
def duration(ms: float | None) -> str:
    if ms is None:
        return MISSING
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{int(ms // 60_000)} m {ms % 60_000 / 1000:.0f} s"


@register.filter
def rate(tokens_per_s: float | None) -> str:
    return MISSING if tokens_per_s is None else f"{tokens_per_s:.1f} tok/s"


@register.filter
def usd(value: Decimal | float | str | None) -> str:
    if value is None or value == "":
        return MISSING
    amount = Decimal(str(value))
    if amount == 0:
        return "$0"
    if amount < Decimal("0.01"):
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:.4f}"


@register.filter
def tokens(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def cost_text(cost: Decimal | None, cost_source: str) -> str:
    """A run's cost as people read it: "not billed", "~$0.0001" (estimated), "$0.0001", or
    "unknown" (no price)."""
    if cost_source == "not_billed":
        return NOT_BILLED
    if cost is None:
        return MISSING
    return ("~" if cost_source == "estimated" else "") + usd(cost)


@register.filter
def run_cost(run: Any) -> str:
    """`cost_text` of a run (or a RunOutcome): anything with `cost` and `cost_source`."""
    return cost_text(run.cost, run.cost_source)


def total_text(total: Decimal | None, unknown: int) -> str:
    """A sum that says what it leaves out: "$0.00053", "$0.00053 + 1 unknown", or "unknown"
    when no part of it is known."""
    if total is None:
        return MISSING
    return usd(total) + (f" + {unknown} {MISSING}" if unknown else "")


@register.simple_tag
def cost_total(total: Decimal | None, unknown: int | None) -> str:
    return total_text(total, unknown or 0)


def retries_text(retries: int, retry_wait_ms: float | None) -> str:
    """Refused attempts before the one that answered, and their wait; "" when none."""
    if not retries:
        return ""
    wait = "" if retry_wait_ms is None else f", +{retry_wait_ms / 1000:.1f} s"
    return f"retried {retries}×{wait}"


@register.filter
def run_retries(run: Any) -> str:
    return retries_text(run.retries, run.retry_wait_ms)


@register.filter
def as_json(value: object) -> str:
    """JSON for a data attribute (autoescaping makes it safe inside the quotes)."""
    return json.dumps(value, separators=(",", ":"))
