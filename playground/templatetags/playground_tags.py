"""Number formatting for metrics: tabular, short, honest about unknowns."""

from __future__ import annotations

import json
from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{int(ms // 60_000)} m {ms % 60_000 / 1000:.0f} s"


@register.filter
def rate(tokens_per_s: float | None) -> str:
    return "—" if tokens_per_s is None else f"{tokens_per_s:.1f} tok/s"


@register.filter
def usd(value: Decimal | float | str | None) -> str:
    if value is None or value == "":
        return "unknown"
    amount = Decimal(str(value))
    if amount == 0:
        return "$0"
    if amount < Decimal("0.01"):
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:.4f}"


@register.filter
def tokens(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


@register.filter
def as_json(value: object) -> str:
    """JSON for a data attribute (autoescaping makes it safe inside the quotes)."""
    return json.dumps(value, separators=(",", ":"))
