"""The catalogue as the rest of the project sees it: what can be picked, and how to reach it.

Model names are "provider:model", split at the first colon, so a model name may contain
colons of its own (ollama:qwen3:8b is model "qwen3:8b" of provider "ollama").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q

from inference.backends.base import PROVIDER_KINDS, HostConfig, ProviderKind
from inference.models import Model, Provider
from inference.pricing import PriceSnapshot


class UnknownModelError(ValueError):
    """One or more names are not in the catalogue (or their model is disabled)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        listed = ", ".join(self.names)
        plural = "s" if len(self.names) > 1 else ""
        super().__init__(
            f"Unknown model{plural}: {listed}. Pick from the catalogue "
            "(names look like openai:gpt-4o-mini), or ask an admin to add or enable it."
        )


class ModelUnavailableError(ValueError):
    """Models that are in the catalogue but cannot run now (no key, provider disabled, ...)."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        super().__init__(
            "; ".join(f"{name} is not available: {reason}" for name, reason in reasons.items())
        )


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """One entry of the model picker."""

    model_id: int
    name: str
    label: str
    provider_slug: str
    provider_label: str
    kind: str
    available: bool
    reason: str  # why it cannot run; "" when available
    prices: PriceSnapshot
    context_window: int | None
    max_output_tokens: int | None
    supports_reasoning: bool


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model that can run now, with everything a backend needs to reach it."""

    model_id: int
    name: str
    label: str
    provider_slug: str
    provider_label: str
    kind: str
    api_name: str
    host: HostConfig
    prices: PriceSnapshot
    context_window: int | None
    max_output_tokens: int | None
    supports_reasoning: bool


def parse_model_list(values: Iterable[str]) -> list[str]:
    """Model names from form values, each one name or several separated by commas."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def split_name(name: str) -> tuple[str, str]:
    """("openai", "gpt-4o-mini") from "openai:gpt-4o-mini"; ValueError when malformed."""
    slug, colon, api_name = name.strip().partition(":")
    if not colon or not slug or not api_name:
        raise ValueError(
            f"{name!r} is not a model name: expected provider:model, e.g. openai:gpt-4o-mini."
        )
    return slug, api_name


def _provider_kind(provider: Provider) -> ProviderKind:
    for kind in PROVIDER_KINDS:
        if kind == provider.kind:
            return kind
    raise ValueError(f"Provider {provider.slug!r} has an unknown kind {provider.kind!r}.")


def host_config(provider: Provider, model: Model | None = None) -> HostConfig:
    """How to reach `provider`: admin settings first, then <SLUG>_* variables, then defaults."""
    options: dict[str, str] = {}
    if model is not None and provider.kind == Provider.Kind.LOCAL:
        options = {str(key): str(value) for key, value in (model.options or {}).items()}
    return HostConfig(
        kind=_provider_kind(provider),
        base_url=provider.effective_base_url().rstrip("/"),
        api_key=provider.effective_api_key(),
        label=provider.label,
        read_timeout=provider.read_timeout,
        options=options,
    )


def _reason_for(provider: Provider, reasons: dict[int, str]) -> str:
    """provider.unavailable_reason(), asked once per provider however many models it has."""
    if provider.pk not in reasons:
        reasons[provider.pk] = provider.unavailable_reason()
    return reasons[provider.pk]


def model_choices() -> list[ModelChoice]:
    """Every enabled model, runnable ones first, then by provider and label (one query)."""
    reasons: dict[int, str] = {}
    choices = [
        ModelChoice(
            model_id=model.pk,
            name=model.name,
            label=model.label,
            provider_slug=model.provider.slug,
            provider_label=model.provider.label,
            kind=model.provider.kind,
            available=not (reason := _reason_for(model.provider, reasons)),
            reason=reason,
            prices=model.price_snapshot(),
            context_window=model.context_window,
            max_output_tokens=model.max_output_tokens,
            supports_reasoning=model.supports_reasoning,
        )
        for model in Model.objects.filter(enabled=True).select_related("provider")
    ]
    choices.sort(key=lambda c: (not c.available, c.provider_label.lower(), c.label.lower()))
    return choices


def resolve_models(names: Sequence[str]) -> list[ResolvedModel]:
    """The runnable models for `names`, in order (repeats allowed), in one query.

    Raises UnknownModelError naming every malformed, unknown or disabled name, else
    ModelUnavailableError naming every model that cannot run now and why.
    """
    parsed: dict[str, tuple[str, str]] = {}
    for name in names:
        try:
            parsed[name] = split_name(name)
        except ValueError:
            continue  # reported below with the unknown names
    found: dict[tuple[str, str], Model] = {}
    if parsed:
        wanted = reduce(
            or_, (Q(provider__slug=slug, api_name=api) for slug, api in set(parsed.values()))
        )
        found = {
            (model.provider.slug, model.api_name): model
            for model in Model.objects.filter(wanted, enabled=True).select_related("provider")
        }
    unknown = [
        name for name in dict.fromkeys(names) if name not in parsed or parsed[name] not in found
    ]
    if unknown:
        raise UnknownModelError(unknown)

    reasons: dict[int, str] = {}
    unavailable = {
        name: reason
        for name in parsed
        if (reason := _reason_for(found[parsed[name]].provider, reasons))
    }
    if unavailable:
        raise ModelUnavailableError(unavailable)
    return [_resolved(found[parsed[name]]) for name in names]


def _resolved(model: Model) -> ResolvedModel:
    provider = model.provider
    return ResolvedModel(
        model_id=model.pk,
        name=model.name,
        label=model.label,
        provider_slug=provider.slug,
        provider_label=provider.label,
        kind=provider.kind,
        api_name=model.api_name,
        host=host_config(provider, model),
        prices=model.price_snapshot(),
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        supports_reasoning=model.supports_reasoning,
    )
