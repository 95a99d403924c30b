"""A comparison as JSON, CSV (one row per run) or Markdown, exactly as saved."""

from __future__ import annotations

import csv
import io
from typing import Any

from playground.fragments import TurnView
from playground.models import Comparison, Run
from playground.templatetags.playground_tags import duration, rate, usd

RUN_FIELDS = [
    "model_name", "model_label", "provider_label", "position", "status", "ttft_ms",
    "answer_ttft_ms", "total_ms", "tokens_per_s", "input_tokens", "output_tokens",
    "cached_tokens", "reasoning_tokens", "tokens_estimated", "cost_source", "temperature",
    "max_tokens", "finish_reason", "error",
]  # fmt: skip


def _run(run: Run) -> dict[str, Any]:
    data = {name: getattr(run, name) for name in RUN_FIELDS}
    data["cost_usd"] = None if run.cost is None else str(run.cost)
    data["prices"] = run.prices
    data["text"] = run.text
    data["reasoning"] = run.reasoning
    return data


def as_json(comparison: Comparison, turns: list[TurnView]) -> dict[str, Any]:
    return {
        "id": comparison.pk,
        "title": comparison.title,
        "created": comparison.created.isoformat(),
        "system_prompt": comparison.system_prompt,
        "turns": [
            {
                "index": view.turn.index,
                "prompt": view.turn.prompt,
                "total_cost_usd": None if view.total_cost is None else str(view.total_cost),
                "runs": [_run(run) for run in view.runs],
            }
            for view in turns
        ],
    }


def as_csv(turns: list[TurnView]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["turn", "prompt", *RUN_FIELDS, "cost_usd", "text"])
    for view in turns:
        for run in view.runs:
            writer.writerow(
                [
                    view.turn.index,
                    view.turn.prompt,
                    *[getattr(run, name) for name in RUN_FIELDS],
                    "" if run.cost is None else str(run.cost),
                    run.text,
                ]
            )
    return out.getvalue()


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def as_markdown(comparison: Comparison, turns: list[TurnView]) -> str:
    lines = [f"# {_cell(comparison.title or 'Comparison')}", ""]
    if comparison.system_prompt:
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
            "| Model | Status | TTFT | Speed | Total | Tokens in / out | Cost |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for run in view.runs:
            mark = "~" if run.tokens_estimated else ""
            tokens = f"{mark}{run.input_tokens or 0} / {mark}{run.output_tokens or 0}"
            lines.append(
                f"| {_cell(run.model_label)} (`{_cell(run.model_name)}`) | {run.status} | "
                f"{duration(run.ttft_ms)} | {rate(run.tokens_per_s)} | {duration(run.total_ms)} | "
                f"{tokens} | {usd(run.cost)} |"
            )
        lines.append("")
        for run in view.runs:
            lines += [f"### {run.model_label}", ""]
            if run.error:
                lines += [f"*Error: {run.error}*", ""]
            lines += [run.text or "*(no answer)*", ""]
    return "\n".join(lines)
