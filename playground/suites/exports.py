"""A suite run as JSON or CSV: one row per unit (case x model x repeat), in the run's order.

Each row's figures are the unit's run as `playground.serialization.run_as_dict` writes it
(the same names and units, the cost a decimal string); a figure that is unknown, or a unit
that never ran, is `null` in JSON and an empty cell in CSV, never 0. CSV cells that a
spreadsheet would run as a formula are quoted as in the comparison exports. A shared link's
exports leave out what its owner chose not to share: the system prompts and the owner's
name are then null.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from playground.exports import csv_cell
from playground.serialization import decimal_text, run_as_dict
from playground.suites.aggregates import ModelAggregate
from playground.suites.models import SuiteRun, SuiteUnit
from playground.suites.selectors import aggregate_json, money
from playground.suites.services import case_prompt

# Of the run's own fields, those a unit's row carries (in this order, after the unit's).
RUN_FIGURES: tuple[str, ...] = (
    "ttft_ms",
    "answer_ttft_ms",
    "total_ms",
    "tokens_per_s",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "tokens_estimated",
    "cost_usd",
    "cost_source",
    "prices",
    "error",
)
UNIT_FIELDS: tuple[str, ...] = (
    "unit_order",
    "case_index",
    "prompt",
    "system",
    "model",
    "repeat",
    "unit_status",
    "run_status",
    "passed",
    "checks",
    *RUN_FIGURES,
    "run_id",
    "text",
)


def unit_as_dict(unit: SuiteUnit, *, system_prompt: bool = True) -> dict[str, Any]:
    system, prompt = case_prompt(unit.case)
    run = run_as_dict(unit.run) if unit.run is not None else {}
    return {
        "unit_order": unit.order,
        "case_index": unit.case.index,
        "prompt": prompt,
        "system": (system or None) if system_prompt else None,
        "model": unit.model_name,
        "repeat": unit.repeat,
        "unit_status": unit.status,
        "run_status": run.get("status"),
        "passed": unit.passed,
        "checks": list(unit.check_results),
        **{name: run.get(name) for name in RUN_FIGURES},
        "run_id": run.get("id"),
        "text": run.get("text"),
    }


def aggregate_as_dict(item: ModelAggregate) -> dict[str, Any]:
    """The terminal's per-model object (`suite run --json`) and the rest of the figures."""
    volume = item.volume
    return {
        **aggregate_json(item),
        "finished": item.finished,
        "reasoning_tokens_mean": item.reasoning_tokens_mean,
        "cost_unknown_runs": item.cost_unknown,
        "volume": {
            "requests_per_day": volume.requests_per_day,
            "cached_share": volume.cached_share,
            "per_day_usd": money(volume.per_day),
            "per_month_usd": money(volume.per_month),
            "prices": volume.prices,
            "prices_from_run": volume.prices_from_run,
        },
    }


def as_json(
    suite_run: SuiteRun,
    units: Sequence[SuiteUnit],
    aggregates: Sequence[ModelAggregate],
    *,
    system_prompt: bool = True,
    owner: str | None = None,
) -> dict[str, Any]:
    suite = suite_run.suite
    return {
        "suite_run": {
            "id": suite_run.pk,
            "suite": {"id": suite.pk, "name": suite.name, "version": suite.version},
            "comparison_id": suite_run.comparison_id,
            "owner": owner,
            "status": suite_run.status,
            "error": suite_run.error,
            "seed": suite_run.seed,
            "repeats": suite_run.repeats,
            "concurrency": suite_run.concurrency,
            "models": [dict(spec) for spec in suite_run.model_specs],
            "units": len(units),
            "estimate_usd": decimal_text(suite_run.estimate),
            "spent_usd": decimal_text(suite_run.spent),
            "created": suite_run.created.isoformat(),
            "started": suite_run.started.isoformat() if suite_run.started else None,
            "finished": suite_run.finished.isoformat() if suite_run.finished else None,
        },
        "models": [aggregate_as_dict(item) for item in aggregates],
        "units": [unit_as_dict(unit, system_prompt=system_prompt) for unit in units],
    }


def check_names(units: Sequence[SuiteUnit]) -> list[str]:
    """Every check any case of the run has, in the order they first appear."""
    names: dict[str, None] = {}
    for unit in units:
        for name in unit.case.checks:
            names.setdefault(str(name), None)
    return list(names)


def as_csv(units: Sequence[SuiteUnit], *, system_prompt: bool = True) -> str:
    """One row per unit; the checks as one column each after `passed` (`check_<name>`: True
    when every check of that kind passed, False, or empty when the case has no such check or
    the unit has no result). Booleans as the comparison CSV writes them."""
    checks = check_names(units)
    columns = [name for name in UNIT_FIELDS if name != "checks"]
    split = columns.index("passed") + 1
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns[:split] + [f"check_{name}" for name in checks] + columns[split:])
    for unit in units:
        data = unit_as_dict(unit, system_prompt=system_prompt)
        results: dict[str, bool] = {}
        for result in data["checks"]:
            name = str(result.get("check"))
            results[name] = results.get(name, True) and bool(result.get("passed"))
        cells = [data[name] for name in columns]
        row = cells[:split] + [results.get(name) for name in checks] + cells[split:]
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()
