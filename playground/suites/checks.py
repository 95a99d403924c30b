"""Deterministic checks of one answer: contains, not-contains, regex, valid JSON, JSON Schema,
max output tokens, max latency. No Django here."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import jsonschema


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    expected: str
    passed: bool
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _json_value(text: str) -> tuple[bool, Any, str]:
    """The answer as JSON: a bare document, or the first fenced ```json block."""
    candidates = [text.strip()]
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    if fenced:
        candidates.append(fenced.group(1).strip())
    error = "empty answer"
    for candidate in candidates:
        try:
            return True, json.loads(candidate), ""
        except json.JSONDecodeError as exc:
            error = exc.msg
    return False, None, error


def evaluate(
    checks: Mapping[str, Any],
    *,
    text: str,
    output_tokens: int | None,
    total_ms: float | None,
) -> list[CheckResult]:
    """Every check of a case against one answer."""
    results: list[CheckResult] = []
    for needle in checks.get("contains", []):
        results.append(CheckResult("contains", needle, needle in text))
    for needle in checks.get("not_contains", []):
        results.append(CheckResult("not_contains", needle, needle not in text))
    for pattern in checks.get("regex", []):
        results.append(CheckResult("regex", pattern, re.search(pattern, text) is not None))
    if checks.get("json") or "json_schema" in checks:
        valid, value, error = _json_value(text)
        if checks.get("json"):
            results.append(CheckResult("json", "valid JSON", valid, error))
        if "json_schema" in checks:
            schema = checks["json_schema"]
            if not valid:
                results.append(CheckResult("json_schema", "matches the schema", False, error))
            else:
                problems = sorted(
                    jsonschema.validators.validator_for(schema)(schema).iter_errors(value),
                    key=lambda e: list(e.path),
                )
                detail = problems[0].message if problems else ""
                results.append(
                    CheckResult("json_schema", "matches the schema", not problems, detail)
                )
    if "max_output_tokens" in checks:
        limit = int(checks["max_output_tokens"])
        ok = output_tokens is not None and output_tokens <= limit
        results.append(
            CheckResult("max_output_tokens", f"≤ {limit}", ok, f"{output_tokens} tokens")
        )
    if "max_latency_ms" in checks:
        limit = int(checks["max_latency_ms"])
        ok = total_ms is not None and total_ms <= limit
        results.append(CheckResult("max_latency_ms", f"≤ {limit} ms", ok, f"{total_ms} ms"))
    return results
