"""The suite pages' forms: a suite from pasted text or a file, a suite run's models and
settings, the history's "Save as suite" and a comparison's "Run xN"."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from inference.catalog import ModelChoice
from playground.conf import playground_settings
from playground.suites.conf import suite_settings
from playground.suites.parsing import CaseSpec, SuiteFileError, parse_csv, parse_jsonl
from playground.suites.services import MIN_RUN_N, ModelSpec

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
UPLOAD_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "lines"}
FORMAT_NAMES = {"csv": "CSV", "jsonl": "JSONL", "lines": "one prompt per line"}
PASTE_HELP = (
    "JSONL if the first line starts with {, one case per line: "
    '{"prompt": "…", "system": "…", "vars": {…}, "expect": {…}}. '
    "CSV if the first line names a prompt column (with system, expect_* and variable "
    "columns). Otherwise plain text: each line is one prompt."
)


def detect_format(text: str) -> str:
    """ "jsonl", "csv" or "lines" for pasted text (see PASTE_HELP)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "jsonl"
    try:
        header = next(csv.reader([first]), [])
    except csv.Error:
        header = []
    return "csv" if "prompt" in {name.strip() for name in header} else "lines"


def parse_lines(text: str) -> list[CaseSpec]:
    """One case per non-blank line; problems are reported by line, as for JSONL."""
    as_jsonl = "\n".join(json.dumps({"prompt": line.strip()}) if line.strip() else "" for line in
                         text.splitlines())  # fmt: skip
    return parse_jsonl(as_jsonl)


def parse_cases(text: str, fmt: str) -> list[CaseSpec]:
    if fmt == "csv":
        return parse_csv(text)
    if fmt == "jsonl":
        return parse_jsonl(text)
    return parse_lines(text)


class SuiteNewForm(forms.Form):
    """A suite from pasted text or an uploaded file; a name already used makes a new version."""

    FORMATS = [
        ("auto", "Detect"),
        ("jsonl", "JSONL"),
        ("csv", "CSV"),
        ("lines", "One prompt per line"),
    ]

    name = forms.CharField(
        max_length=200,
        error_messages={
            "required": "Give the suite a name.",
            "max_length": "The name is at most %(limit_value)d characters.",
        },
        help_text="Saving under a name you already used makes its next version.",
    )
    text = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        label="Cases",
        help_text=PASTE_HELP,
    )
    format = forms.ChoiceField(choices=FORMATS, required=False, initial="auto")
    file = forms.FileField(
        required=False,
        label="Or upload a file",
        help_text=".csv (with a prompt column) or .jsonl, UTF-8, at most 2 MiB.",
    )

    def _read_upload(self, upload: UploadedFile[bytes]) -> str:
        name = upload.name or "upload"
        if (upload.size or 0) > MAX_UPLOAD_BYTES:
            raise SuiteFileError(f"{name} is {upload.size:,} bytes; the limit is 2 MiB.")
        try:
            return bytes(upload.read()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SuiteFileError(f"{name}: not UTF-8 text.") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text: str = cleaned.get("text") or ""
        upload: UploadedFile[bytes] | None = cleaned.get("file")
        if text.strip() and upload is not None:
            self.add_error("text", "Paste the cases or upload a file, not both.")
            return cleaned
        if not text.strip() and upload is None:
            self.add_error("text", "Paste the cases, or choose a file to upload.")
            return cleaned
        if upload is not None:
            field, where = "file", "file"
            fmt = UPLOAD_SUFFIXES.get(Path(upload.name or "").suffix.lower())
            if fmt is None:
                self.add_error("file", f"{upload.name}: expected a .csv or .jsonl file.")
                return cleaned
        else:
            field, where = "text", "pasted text"
            chosen = cleaned.get("format") or "auto"
            fmt = detect_format(text) if chosen == "auto" else chosen
        try:
            if upload is not None:
                text = self._read_upload(upload)
            cases = parse_cases(text, fmt)
        except SuiteFileError as exc:
            message = str(exc).replace("The suite file", f"The {where}", 1)
            self.add_error(field, f"Read as {FORMAT_NAMES[fmt]}: {message}")
            return cleaned
        cleaned["cases"] = cases
        cleaned["read_as"] = FORMAT_NAMES[fmt]
        return cleaned


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One model of the catalogue in the run form, with its own settings' fields."""

    choice: ModelChoice
    checked: bool
    temperature: forms.BoundField
    max_tokens: forms.BoundField


def _temperature_field(subject: str) -> forms.FloatField:
    message = f"{subject} must be a number from 0 to 2."
    return forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=2.0,
        widget=forms.NumberInput(attrs={"step": "0.1", "placeholder": "default"}),
        error_messages={"invalid": message, "min_value": message, "max_value": message},
    )


def _count_field(subject: str, low: int, high: int, placeholder: str) -> forms.IntegerField:
    message = f"{subject} must be a whole number from {low} to {high:,}."
    return forms.IntegerField(
        required=False,
        min_value=low,
        max_value=high,
        widget=forms.NumberInput(attrs={"placeholder": placeholder}),
        error_messages={"invalid": message, "min_value": message, "max_value": message},
    )


class SuiteRunForm(forms.Form):
    """Models of the enabled catalogue, each with its own temperature and max tokens (blank:
    the defaults for all), repeats, and the concurrency caps (blank: conf.SuiteSettings)."""

    models = forms.MultipleChoiceField(
        error_messages={
            "required": "Pick at least one model.",
            "invalid_choice": "%(value)s is not in the model catalogue (or it is disabled).",
        },
    )
    temperature = _temperature_field("The temperature")

    def __init__(self, *args: Any, choices: list[ModelChoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choices = choices
        limits, site = suite_settings(), playground_settings()
        self.fields["models"].choices = [(c.name, c.label) for c in choices]  # type: ignore[attr-defined]
        self.fields["max_tokens"] = _count_field(
            "Max tokens", 1, site.max_tokens_limit, str(site.default_max_tokens)
        )
        self.fields["repeats"] = _count_field("Repeats", 1, limits.max_repeats, "1")
        self.fields["repeats"].required = True
        self.fields["repeats"].initial = 1
        self.fields["repeats"].error_messages["required"] = (
            f"Repeats: how many times each case goes to each model, 1 to {limits.max_repeats}."
        )
        self.fields["concurrency"] = _count_field(
            "Concurrency", 1, limits.max_concurrency, str(limits.concurrency)
        )
        for choice in choices:
            self.fields[f"temperature_{choice.model_id}"] = _temperature_field(
                f"The temperature of {choice.name}"
            )
            self.fields[f"max_tokens_{choice.model_id}"] = _count_field(
                f"Max tokens of {choice.name}", 1, site.max_tokens_limit, "default"
            )
        self.providers: dict[str, str] = {}
        for choice in choices:
            self.providers.setdefault(choice.provider_slug, choice.provider_label)
        default_cap = str(limits.provider_concurrency)
        for slug, label in self.providers.items():
            self.fields[f"provider_{slug}"] = _count_field(
                f"The concurrency of {label}", 1, limits.max_concurrency, default_cap
            )

    def rows(self) -> list[ModelRow]:
        picked = set(self["models"].value() or [])
        return [
            ModelRow(
                choice=choice,
                checked=choice.name in picked,
                temperature=self[f"temperature_{choice.model_id}"],
                max_tokens=self[f"max_tokens_{choice.model_id}"],
            )
            for choice in self.choices
        ]

    def available_rows(self) -> list[ModelRow]:
        return [row for row in self.rows() if row.choice.available]

    def unavailable_rows(self) -> list[ModelRow]:
        return [row for row in self.rows() if not row.choice.available]

    def provider_fields(self) -> list[tuple[str, forms.BoundField]]:
        """(provider label, its concurrency field) for every provider in the catalogue."""
        return [(label, self[f"provider_{slug}"]) for slug, label in self.providers.items()]

    def model_specs(self) -> list[ModelSpec]:
        """The picked models in catalogue order; call after is_valid()."""
        data = self.cleaned_data
        picked = set(data.get("models") or [])
        specs: list[ModelSpec] = []
        for choice in self.choices:
            if choice.name not in picked:
                continue
            temperature = data.get(f"temperature_{choice.model_id}")
            max_tokens = data.get(f"max_tokens_{choice.model_id}")
            specs.append(
                ModelSpec(
                    model=choice.name,
                    temperature=data.get("temperature") if temperature is None else temperature,
                    max_tokens=data.get("max_tokens") if max_tokens is None else max_tokens,
                )
            )
        return specs

    def provider_concurrency(self) -> dict[str, int]:
        """Only the caps set here; the others take the default."""
        return {
            slug: value
            for slug in self.providers
            if (value := self.cleaned_data.get(f"provider_{slug}")) is not None
        }

    def error_list(self) -> list[str]:
        """Every error in plain words (each message names what it is about)."""
        return [str(error) for errors in self.errors.values() for error in errors]


class SaveAsSuiteForm(forms.Form):
    """The history's "Save as suite": ticked comparisons and a name."""

    name = forms.CharField(
        max_length=200,
        error_messages={
            "required": "Give the suite a name to save the ticked comparisons as a suite.",
            "max_length": "The suite's name is at most %(limit_value)d characters.",
        },
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = self.data.getlist("comparisons") if hasattr(self.data, "getlist") else []
        bad = [value for value in values if not str(value).isdigit()]
        if bad:
            self.add_error(None, f"{bad[0][:40]!r} is not a comparison of yours.")
        elif not values:
            self.add_error(None, "Tick at least one comparison to save as a suite.")
        cleaned["comparison_ids"] = [int(value) for value in values if str(value).isdigit()]
        return cleaned


class RunNForm(forms.Form):
    """A comparison's "Run xN": how many times to repeat its first prompt."""

    n = forms.IntegerField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        most = suite_settings().max_repeats
        message = f"Run it from {MIN_RUN_N} to {most} times."
        self.fields["n"] = forms.IntegerField(
            min_value=MIN_RUN_N,
            max_value=most,
            initial=3,
            error_messages={
                "required": message,
                "invalid": message,
                "min_value": message,
                "max_value": message,
            },
        )
