"""The compare request, validated the same way from the page, the websocket and the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.datastructures import MultiValueDict

from inference.catalog import (
    ModelUnavailableError,
    ResolvedModel,
    UnknownModelError,
    parse_model_list,
    resolve_models,
)
from playground.conf import playground_settings

# What the page's form (through htmx's ws extension) may send. HEADERS is htmx's own.
FORM_FIELDS = frozenset(
    {
        "prompt",
        "system",
        "models",
        "temperature",
        "max_tokens",
        "same_settings",
        "panel_temperature",
        "panel_max_tokens",
        "comparison",
        "blind",
        "battle_size",
    }
)
IGNORED_FIELDS = frozenset({"HEADERS", "csrfmiddlewaretoken", "model_search"})
LIST_FIELDS = frozenset({"models", "panel_temperature", "panel_max_tokens"})
# Every message here says in its own words what it is about; a Django message that does not
# ("Enter a whole number.") gets the thing's plain name before it, never a field name.
PLAIN_LABELS = {
    "temperature": "The temperature",
    "max_tokens": "Max tokens",
    "comparison": "The comparison to continue",
    "system": "The system prompt",
}


class FrameError(ValueError):
    """A websocket frame or form payload that cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class PanelSpec:
    """One panel of a comparison: a model and its own settings."""

    model: ResolvedModel
    temperature: float | None
    max_tokens: int


@dataclass(frozen=True, slots=True)
class CompareRequest:
    """A validated compare request, ready for services.comparison_prepare."""

    prompt: str
    system: str
    panels: tuple[PanelSpec, ...]
    same_settings: bool
    comparison_id: int | None  # set for a follow-up to an existing comparison
    # A blind battle: `panels` is the pool, and `battle_size` of them are drawn at random.
    blind: bool = False
    battle_size: int = 2


def payload_to_data(payload: Mapping[str, Any]) -> MultiValueDict[str, str]:
    """A decoded JSON payload as form data; refuses unknown fields and non-text values."""
    unknown = sorted(set(payload) - FORM_FIELDS - IGNORED_FIELDS - {"action"})
    if unknown:
        raise FrameError(
            f"Unknown field(s) in the request ({', '.join(unknown)[:80]}): this page never "
            "sends them; reload it and try again."
        )
    data: MultiValueDict[str, str] = MultiValueDict()
    for key, value in payload.items():
        if key in IGNORED_FIELDS or key == "action":
            continue
        values = value if isinstance(value, list) else [value]
        if len(values) > 1 and key not in LIST_FIELDS:
            raise FrameError(f"The request had {len(values)} values where one was expected.")
        cleaned: list[str] = []
        for item in values:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise FrameError("The request had a value that must be text or a number.")
            cleaned.append(str(item))
        if key == "models":
            cleaned = parse_model_list(cleaned)
        data.setlist(key, cleaned)
    return data


class CompareForm(forms.Form):
    """One prompt for 1 to N panels, each with its own temperature and max tokens."""

    prompt = forms.CharField(
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write a prompt first."},
    )
    system = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 2}))
    models = forms.CharField(required=False)  # a list; read with getlist in clean()
    temperature = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=2.0,
        error_messages={
            "invalid": "The temperature must be a number.",
            "min_value": "The temperature must be between 0 and 2.",
            "max_value": "The temperature must be between 0 and 2.",
        },
    )
    max_tokens = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={
            "invalid": "Max tokens must be a whole number.",
            "min_value": "Max tokens must be at least 1.",
        },
    )
    same_settings = forms.BooleanField(required=False)
    comparison = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    blind = forms.BooleanField(required=False)
    battle_size = forms.IntegerField(
        required=False,
        min_value=2,
        initial=2,
        error_messages={
            "invalid": "The battle size must be a whole number.",
            "min_value": "A battle has at least 2 models.",
        },
    )

    def __init__(self, *args: Any, require_models: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.require_models = require_models
        self.limits = playground_settings()
        self.fields["max_tokens"].widget.attrs["max"] = self.limits.max_tokens_limit
        self.fields["temperature"].widget.attrs["step"] = "0.1"
        self.fields["battle_size"].widget.attrs["max"] = self.limits.max_panels

    def _list(self, name: str) -> list[str]:
        if isinstance(self.data, MultiValueDict):
            return [v for v in self.data.getlist(name)]
        value = self.data.get(name)
        return [] if value in (None, "") else [str(value)]

    def clean_prompt(self) -> str:
        prompt: str = self.cleaned_data["prompt"]
        if not prompt.strip():
            raise forms.ValidationError("Write a prompt first.")
        if len(prompt) > self.limits.max_prompt_chars:
            raise forms.ValidationError(
                f"The prompt is {len(prompt):,} characters; the limit is "
                f"{self.limits.max_prompt_chars:,}."
            )
        return prompt

    def clean_system(self) -> str:
        system: str = self.cleaned_data.get("system") or ""
        if len(system) > self.limits.max_system_chars:
            raise forms.ValidationError(
                f"The system prompt is {len(system):,} characters; the limit is "
                f"{self.limits.max_system_chars:,}."
            )
        return system

    def clean_max_tokens(self) -> int | None:
        value: int | None = self.cleaned_data.get("max_tokens")
        if value is not None and value > self.limits.max_tokens_limit:
            raise forms.ValidationError(f"Max tokens is at most {self.limits.max_tokens_limit:,}.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        names = [name.strip() for name in self._list("models") if name.strip()]
        cleaned["model_names"] = names
        if not cleaned.get("blind") or cleaned.get("comparison"):
            self.errors.pop("battle_size", None)  # only a new blind battle reads it
        if cleaned.get("comparison"):
            return cleaned  # a follow-up goes to the comparison's own panels
        if cleaned.get("blind") and not self._blind_pool_ok(names, cleaned):
            return cleaned
        if not names:
            if self.require_models:
                self.add_error(
                    "models", "Pick at least one model: “Add model” is above the prompt."
                )
            return cleaned
        if len(names) > self.limits.max_panels:
            self.add_error(
                "models",
                f"{len(names)} models picked; a comparison has at most "
                f"{self.limits.max_panels} panels.",
            )
            return cleaned
        try:
            cleaned["resolved"] = resolve_models(names)
        except (UnknownModelError, ModelUnavailableError) as exc:
            self.add_error("models", str(exc))
            return cleaned
        cleaned["panel_settings"] = self._panel_settings(len(names), cleaned)
        return cleaned

    def _blind_pool_ok(self, names: list[str], cleaned: dict[str, Any]) -> bool:
        """A blind battle's pool: distinct models, at least two, and a size it can give.
        Every side has the same settings (its own would tell them apart)."""
        cleaned["same_settings"] = True
        if len(set(names)) != len(names):
            self.add_error("models", "A blind battle's pool lists each model once.")
            return False
        if len(names) < 2:
            self.add_error("models", "A blind battle needs a pool of at least two models.")
            return False
        size = cleaned.get("battle_size") or 2
        if size > len(names):
            self.add_error(
                "battle_size",
                f"A battle of {size} models cannot be drawn from a pool of {len(names)}: "
                f"pick a size from 2 to {len(names)}.",
            )
            return False
        cleaned["battle_size"] = size
        return True

    def _panel_settings(
        self, count: int, cleaned: dict[str, Any]
    ) -> list[tuple[float | None, int | None]]:
        temperatures = self._list("panel_temperature")
        max_tokens = self._list("panel_max_tokens")
        settings: list[tuple[float | None, int | None]] = []
        for index in range(count):
            temperature = cleaned.get("temperature")
            tokens = cleaned.get("max_tokens")
            if not cleaned.get("same_settings"):
                if index < len(temperatures) and temperatures[index].strip():
                    temperature = self._number(temperatures[index], float, "temperature", 0.0, 2.0)
                if index < len(max_tokens) and max_tokens[index].strip():
                    tokens = int(
                        self._number(
                            max_tokens[index], int, "max tokens", 1, self.limits.max_tokens_limit
                        )
                    )
            settings.append((temperature, tokens))
        return settings

    def _number(
        self, raw: str, kind: type[float] | type[int], label: str, low: float, high: float
    ) -> float:
        try:
            value = kind(raw)
        except ValueError:
            self.add_error(None, f"Panel {label} {raw!r} is not a number.")
            return low
        if not low <= value <= high:
            self.add_error(None, f"Panel {label} must be between {low:g} and {high:g}.")
        return value

    def compare_request(self) -> CompareRequest:
        """The validated request; call after is_valid()."""
        data = self.cleaned_data
        panels = tuple(
            PanelSpec(
                model=model,
                temperature=temperature,
                max_tokens=tokens
                or min(
                    self.limits.default_max_tokens,
                    model.max_output_tokens or self.limits.default_max_tokens,
                ),
            )
            for model, (temperature, tokens) in zip(
                data.get("resolved", []), data.get("panel_settings", []), strict=True
            )
        )
        return CompareRequest(
            prompt=data["prompt"],
            system=data.get("system") or "",
            panels=panels,
            same_settings=bool(data.get("same_settings")),
            comparison_id=data.get("comparison"),
            blind=bool(data.get("blind")) and not data.get("comparison"),
            battle_size=data.get("battle_size") or 2,
        )

    def error_text(self) -> str:
        """Every error in one line of plain words (no field names), for a websocket notice
        or the terminal."""
        return " ".join(self.error_text_for(field) for field in self.errors)

    def error_text_for(self, field: str) -> str:
        """One field's errors in plain words."""
        label = PLAIN_LABELS.get(field, "")
        messages: list[str] = []
        for error in self.errors.get(field, []):
            text = str(error)
            if label and not text.lower().startswith(label.lower()):
                text = f"{label}: {text[:1].lower()}{text[1:]}"
            messages.append(text)
        return " ".join(messages)


class ShareForm(forms.Form):
    """Who may open a comparison's link, and for how long."""

    EXPIRY_CHOICES = [("", "Never expires"), ("1", "1 day"), ("7", "7 days"), ("30", "30 days")]

    audience = forms.ChoiceField(
        choices=[
            ("team", "Teammates (anyone logged in here)"),
            ("public", "Anyone with the link"),
        ],
        widget=forms.RadioSelect,
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False
    )
    # Off unless ticked: a public link shows neither unless its owner chooses to.
    include_system_prompt = forms.BooleanField(required=False, label="Include the system prompt")
    include_owner = forms.BooleanField(required=False, label="Show my name as the owner")
