"""A comparison as JSON, CSV (one row per run) or Markdown, exactly as saved.

Every run is `serialization.run_as_dict`: the same field names as `manage.py compare --json`.
A shared link's exports leave out what its owner chose not to share (the system prompt, the
owner's name): `system_prompt` and `owner` are then null. A blind battle not voted on yet
exports its runs as its page shows them (playground.arena.blinding): "Model A", and no
model, provider, price, cost, tokens or reasoning.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from playground.fragments import TurnView
from playground.models import Comparison
from playground.serialization import RUN_FIELDS, decimal_text, run_as_dict
from playground.templatetags.playground_tags import (
    cost_text,
    duration,
    rate,
    retries_text,
    tokens,
    total_text,
)

# A spreadsheet reads a cell starting with one of these as a formula (or as the start of one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_json(
    comparison: Comparison,
    turns: list[TurnView],
    *,
    system_prompt: bool = True,
    owner: str | None = None,
) -> dict[str, Any]:
    return {
        "id": comparison.pk,
        "title": comparison.title,
        "created": comparison.created.isoformat(),
        "owner": owner,
        "system_prompt": comparison.system_prompt if system_prompt else None,
        "turns": [
            {
                "index": view.turn.index,
                "prompt": view.turn.prompt,
                "total_cost_usd": decimal_text(view.total_cost),
                "unknown_cost_runs": view.unknown_costs,
                "runs": [run_as_dict(run) for run in view.runs],
            }
            for view in turns
        ],
    }


def csv_cell(value: object) -> str:
    """A cell as text; one that a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def as_csv(turns: list[TurnView]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["turn", "prompt", *RUN_FIELDS])
    for view in turns:
        for run in view.runs:
            data = run_as_dict(run)
            writer.writerow(
                [csv_cell(view.turn.index), csv_cell(view.turn.prompt)]
                + [csv_cell(data[name]) for name in RUN_FIELDS]
            )
    return out.getvalue()


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def as_markdown(
    comparison: Comparison,
    turns: list[TurnView],
    *,
    system_prompt: bool = True,
    owner: str | None = None,
) -> str:
    lines = [f"# {_cell(comparison.title or 'Comparison')}", ""]
    if any(view.blind for view in turns):
        lines += ["Blind battle: the models and their metrics show after the vote.", ""]
    if owner:
        lines += [f"Shared by {_cell(owner)}", ""]
    if system_prompt and comparison.system_prompt:
        lines += [
            "**System prompt**",
            "",
            *[f"> {line}" for line in comparison.system_prompt.splitlines()],
            "",
        ]
    for view in turns:
        label = "Prompt" if view.turn.index == 0 else f"Follow-up {view.turn.index}"
        lines += [f"## {label}", "", *[f"> {line}" for line in view.turn.prompt.splitlines()], ""]
        lines += [
            "| Model | Status | TTFT | Speed | Total | Tokens in / out | Cost | Retries |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for run in view.runs:
            mark = "~" if run.tokens_estimated else ""
            counts = f"{mark}{tokens(run.input_tokens)} / {mark}{tokens(run.output_tokens)}"
            lines.append(
                f"| {_cell(run.model_label)}"
                + (f" (`{_cell(run.model_name)}`)" if run.model_name else "")
                + f" | {run.status} | "
                f"{duration(run.ttft_ms)} | {rate(run.tokens_per_s)} | {duration(run.total_ms)} | "
                f"{counts} | {cost_text(run.cost, run.cost_source)} | "
                f"{retries_text(run.retries, run.retry_wait_ms) or 'none'} |"
            )
        lines += ["", f"Total: {total_text(view.total_cost, view.unknown_costs)}", ""]
        for run in view.runs:
            lines += [f"### {run.model_label}", ""]
            if run.error:
                lines += [f"*Error: {run.error}*", ""]
            lines += [run.text or "*(no answer)*", ""]
    return "\n".join(lines)
