"""Suite files: CSV with a `prompt` column, or JSONL with {"prompt", "system"?, "vars"?, "expect"?}.

The whole file is read and checked before anything is written, and every problem is reported
with its line, so a bad file writes nothing.

CSV columns: `prompt` (required), `system`, `expect_contains`, `expect_not_contains`,
`expect_regex`, `expect_json` (true/false), `expect_json_schema` (JSON), `expect_max_output_tokens`,
`expect_max_latency_ms`; every other column is a variable for `{{column}}`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from playground.suites.conf import suite_settings

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")

CHECK_KEYS = (
    "contains",
    "not_contains",
    "regex",
    "json",
    "json_schema",
    "max_output_tokens",
    "max_latency_ms",
)
_SYNONYMS = {"not-contains": "not_contains", "valid_json": "json", "schema": "json_schema"}


class SuiteFileError(ValueError):
    """The file cannot become a suite; the message lists every problem found, by line."""


@dataclass(frozen=True, slots=True)
class CaseSpec:
    prompt: str
    system: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)


def render(template: str, values: Mapping[str, str]) -> str:
    """{{name}} replaced by values[name]; KeyError names a variable with no value."""
    return VARIABLE.sub(lambda match: values[match.group(1)], template)


def missing_variables(template: str, values: Mapping[str, str]) -> list[str]:
    return sorted({name for name in VARIABLE.findall(template) if name not in values})


def _strings(value: object, *, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError(f"{what} must be a string or a list of strings")


def _positive_int(value: object, *, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a positive whole number")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{what} must be a positive whole number, not {value!r}") from None
    if number <= 0:
        raise ValueError(f"{what} must be a positive whole number, not {value!r}")
    return number


def normalise_checks(expect: Mapping[str, Any]) -> dict[str, Any]:
    """The checks of one case, validated; ValueError says what is wrong."""
    checks: dict[str, Any] = {}
    for raw_key, value in expect.items():
        key = _SYNONYMS.get(raw_key, raw_key)
        if key not in CHECK_KEYS:
            raise ValueError(f"unknown check {raw_key!r} (known: {', '.join(CHECK_KEYS)})")
        if key in ("contains", "not_contains"):
            checks[key] = _strings(value, what=f"expect.{raw_key}")
        elif key == "regex":
            for pattern in _strings(value, what="expect.regex"):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"expect.regex {pattern!r} is not a regex: {exc}") from None
            checks[key] = _strings(value, what="expect.regex")
        elif key == "json":
            if not isinstance(value, bool):
                raise ValueError("expect.json must be true or false")
            if value:
                checks[key] = True
        elif key == "json_schema":
            if not isinstance(value, dict):
                raise ValueError("expect.json_schema must be a JSON Schema object")
            try:
                jsonschema.validators.validator_for(value).check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(
                    f"expect.json_schema is not a valid schema: {exc.message}"
                ) from None
            checks[key] = value
        else:
            checks[key] = _positive_int(value, what=f"expect.{raw_key}")
    return checks


def _case(*, prompt: object, system: object, variables: object, expect: object) -> CaseSpec:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the prompt is empty")
    if system is None:
        system = ""
    if not isinstance(system, str):
        raise ValueError("system must be a string")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise ValueError("vars must be an object")
    values = {str(key): value if isinstance(value, str) else json.dumps(value)
              for key, value in variables.items()}  # fmt: skip
    if expect is None:
        expect = {}
    if not isinstance(expect, dict):
        raise ValueError("expect must be an object")
    missing = missing_variables(prompt, values) + missing_variables(system, values)
    if missing:
        names = ", ".join("{{" + name + "}}" for name in sorted(set(missing)))
        raise ValueError(f"no value for {names}")
    return CaseSpec(prompt=prompt, system=system, vars=values, checks=normalise_checks(expect))


def parse_jsonl(text: str) -> list[CaseSpec]:
    cases: list[CaseSpec] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(item, dict):
            problems.append(f'line {number}: expected an object with a "prompt"')
            continue
        unknown = set(item) - {"prompt", "system", "vars", "expect"}
        if unknown:
            problems.append(f"line {number}: unknown keys {', '.join(sorted(unknown))}")
            continue
        try:
            cases.append(
                _case(
                    prompt=item.get("prompt"),
                    system=item.get("system"),
                    variables=item.get("vars"),
                    expect=item.get("expect"),
                )
            )
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    return _checked(cases, problems)


_CSV_CHECKS = {f"expect_{key}": key for key in CHECK_KEYS}


def _csv_expect(row: Mapping[str, str]) -> dict[str, Any]:
    expect: dict[str, Any] = {}
    for column, key in _CSV_CHECKS.items():
        value = (row.get(column) or "").strip()
        if not value:
            continue
        if key == "json":
            if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(f"{column} must be true or false, not {value!r}")
            expect[key] = value.lower() in {"true", "1", "yes"}
        elif key == "json_schema":
            try:
                expect[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{column} is not JSON ({exc.msg})") from None
        else:
            expect[key] = value
    return expect


def parse_csv(text: str) -> list[CaseSpec]:
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    if "prompt" not in header:
        raise SuiteFileError("The CSV has no `prompt` column (the first line names the columns).")
    reader.fieldnames = header
    variable_columns = [n for n in header if n not in {"prompt", "system", *_CSV_CHECKS}]
    cases: list[CaseSpec] = []
    problems: list[str] = []
    try:
        for row in reader:
            line = reader.line_num  # where the row ends (a quoted value may span lines)
            if None in row:
                problems.append(f"line {line}: more values than columns")
                continue
            if not any((value or "").strip() for value in row.values()):
                continue
            try:
                cases.append(
                    _case(
                        prompt=row.get("prompt") or "",
                        system=row.get("system") or "",
                        variables={name: row.get(name) or "" for name in variable_columns},
                        expect=_csv_expect(row),
                    )
                )
            except ValueError as exc:
                problems.append(f"line {line}: {exc}")
    except csv.Error as exc:
        raise SuiteFileError(f"The CSV cannot be read: line {reader.line_num}: {exc}") from None
    return _checked(cases, problems)


def _checked(cases: list[CaseSpec], problems: list[str]) -> list[CaseSpec]:
    if problems:
        shown = problems[:20]
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise SuiteFileError("The suite file has problems:\n" + "\n".join(shown) + more)
    if not cases:
        raise SuiteFileError("The suite file has no cases.")
    limit = suite_settings().max_cases
    if len(cases) > limit:
        raise SuiteFileError(f"The suite file has {len(cases)} cases; at most {limit}.")
    return cases


def parse_text(text: str, *, filename: str) -> list[CaseSpec]:
    """Cases from a file's text; the format follows the name (.csv, .jsonl or .json)."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        return parse_csv(text)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return parse_jsonl(text)
    raise SuiteFileError(f"{filename}: expected a .csv or .jsonl file.")


def parse_file(path: str | Path) -> list[CaseSpec]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SuiteFileError(f"{path}: no such file.") from None
    except UnicodeDecodeError:
        raise SuiteFileError(f"{path}: not UTF-8 text.") from None
    return parse_text(text, filename=path.name)
