"""One run as plain data, the same for the terminal's `compare --json` and the exports.

One set of field names; a figure that is unknown is `None` (JSON `null`), never 0; the cost
is a decimal string exactly as saved (e.g. "0.00012300"), never a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from playground.models import Run

# The order of the keys, also the CSV columns (after the turn's own).
RUN_FIELDS: tuple[str, ...] = (
    "id",
    "model",
    "model_label",
    "provider_label",
    "position",
    "attempt",
    "status",
    "finish_reason",
    "error",
    "ttft_ms",
    "answer_ttft_ms",
    "total_ms",
    "tokens_per_s",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "tokens_estimated",
    "cost_usd",
    "cost_source",
    "retries",
    "retry_wait_ms",
    "temperature",
    "max_tokens",
    "note",
    "prices",
    "reasoning",
    "text",
)


def decimal_text(value: Decimal | None) -> str | None:
    """A Decimal as a plain decimal string ("0.00000000", not "0E-8"); None stays None."""
    return None if value is None else f"{value:f}"


def run_as_dict(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.pk,
        "model": run.model_name,
        "model_label": run.model_label,
        "provider_label": run.provider_label,
        "position": run.position,
        "attempt": run.attempt,
        "status": run.status,
        "finish_reason": run.finish_reason,
        "error": run.error,
        "ttft_ms": run.ttft_ms,
        "answer_ttft_ms": run.answer_ttft_ms,
        "total_ms": run.total_ms,
        "tokens_per_s": run.tokens_per_s,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "cached_tokens": run.cached_tokens,
        "reasoning_tokens": run.reasoning_tokens,
        "tokens_estimated": run.tokens_estimated,
        "cost_usd": decimal_text(run.cost),
        "cost_source": run.cost_source,
        "retries": run.retries,
        "retry_wait_ms": run.retry_wait_ms,
        "temperature": run.temperature,
        "max_tokens": run.max_tokens,
        "note": run.note,
        "prices": run.prices,
        "reasoning": run.reasoning,
        "text": run.text,
    }
    return data
