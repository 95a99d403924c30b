"""Load the seeded catalogue: create what is missing, refresh seeded prices and limits.

Idempotent and quick (it runs on every `make run`): a fixed handful of queries whatever
the catalogue's size. Never touches keys or an admin-set base URL, and leaves prices the
admin has edited (Model.prices_edited) alone unless --overwrite-prices. Local servers
(keyless providers on localhost: vLLM, Ollama) are created disabled; whether a provider is
enabled is the admin's to say, so a load never enables (or disables) an existing one, and
its report names the local servers still disabled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from inference.models import Model, Provider, is_local_server
from inference.seed import CATALOG_PATH

SEEDED_MODEL_FIELDS = (
    "input_price",
    "output_price",
    "cached_input_price",
    "batch_input_price",
    "batch_output_price",
    "context_window",
    "max_output_tokens",
    "supports_reasoning",
)


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """What one load did, for the one-line report."""

    providers: int
    providers_created: int
    models: int
    models_created: int
    models_updated: int
    models_kept: int  # prices edited in the admin, left alone
    local_servers_disabled: tuple[str, ...] = ()  # slugs, disabled until an admin enables them

    def __str__(self) -> str:
        kept = f", {self.models_kept} kept as edited in the admin" if self.models_kept else ""
        text = (
            f"Catalogue: {self.providers} providers ({self.providers_created} new), "
            f"{self.models} models ({self.models_created} new, "
            f"{self.models_updated} updated{kept})."
        )
        if self.local_servers_disabled:
            text += (
                f"\nLocal servers disabled until an admin enables them (Admin → Providers): "
                f"{', '.join(self.local_servers_disabled)}. Any user can make the playground "
                "send requests to an enabled one, so enable only servers you run."
            )
        return text


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _seeded_values(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_price": _decimal(entry.get("input_price")),
        "output_price": _decimal(entry.get("output_price")),
        "cached_input_price": _decimal(entry.get("cached_input_price")),
        "batch_input_price": _decimal(entry.get("batch_input_price")),
        "batch_output_price": _decimal(entry.get("batch_output_price")),
        "context_window": entry.get("context_window"),
        "max_output_tokens": entry.get("max_output_tokens"),
        "supports_reasoning": bool(entry.get("supports_reasoning")),
    }


@transaction.atomic
def load_catalog(*, seed: dict[str, Any], overwrite_prices: bool = False) -> LoadSummary:
    """Bring the database in line with `seed` (the parsed catalog.json)."""
    seeded_providers: list[dict[str, Any]] = seed["providers"]
    default_urls = {p["slug"]: p["default_base_url"] for p in seeded_providers}
    existing = {p.slug: p for p in Provider.objects.filter(slug__in=default_urls)}

    new_providers = [
        Provider(
            slug=p["slug"],
            label=p["label"],
            kind=p["kind"],
            default_base_url=p["default_base_url"],
            key_required=p["key_required"],
            enabled=not is_local_server(
                kind=p["kind"], key_required=p["key_required"], base_url=p["default_base_url"]
            ),
        )
        for p in seeded_providers
        if p["slug"] not in existing
    ]
    Provider.objects.bulk_create(new_providers)
    # The default base URL is the seed's to keep current; base_url (the admin's) is not.
    stale_urls = [p for p in existing.values() if p.default_base_url != default_urls[p.slug]]
    for provider in stale_urls:
        provider.default_base_url = default_urls[provider.slug]
    Provider.objects.bulk_update(stale_urls, ["default_base_url"])
    providers = existing | {p.slug: p for p in new_providers}
    if any(p.pk is None for p in providers.values()):  # a database that returns no new ids
        providers = {p.slug: p for p in Provider.objects.filter(slug__in=default_urls)}

    current = {
        (m.provider_id, m.api_name): m
        for m in Model.objects.filter(provider__in=list(providers.values()))
    }
    now = timezone.now()
    to_create: list[Model] = []
    to_update: list[Model] = []
    kept = 0
    model_count = 0
    for seeded in seeded_providers:
        provider = providers[seeded["slug"]]
        for entry in seeded["models"]:
            model_count += 1
            values = _seeded_values(entry)
            model = current.get((provider.pk, entry["api_name"]))
            if model is None:
                to_create.append(
                    Model(
                        provider=provider,
                        api_name=entry["api_name"],
                        label=entry["label"],
                        **values,
                    )
                )
                continue
            differs = any(getattr(model, name) != value for name, value in values.items())
            if model.prices_edited and not overwrite_prices:
                if differs:
                    kept += 1
                continue
            if differs or model.prices_edited:
                for name, value in values.items():
                    setattr(model, name, value)
                model.prices_edited = False
                model.updated = now
                to_update.append(model)
    Model.objects.bulk_create(to_create)
    Model.objects.bulk_update(to_update, [*SEEDED_MODEL_FIELDS, "prices_edited", "updated"])
    return LoadSummary(
        providers=len(seeded_providers),
        providers_created=len(new_providers),
        models=model_count,
        models_created=len(to_create),
        models_updated=len(to_update),
        models_kept=kept,
        local_servers_disabled=tuple(
            sorted(p.slug for p in providers.values() if not p.enabled and p.is_local_server)
        ),
    )


class Command(BaseCommand):
    help = "Load the seeded catalogue of providers, models and list prices (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=CATALOG_PATH, help="a seed catalog.json")
        parser.add_argument(
            "--overwrite-prices",
            action="store_true",
            help="also reset prices and limits that an admin has edited",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            seed = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the catalogue seed {path}: {exc}") from exc
        summary = load_catalog(seed=seed, overwrite_prices=options["overwrite_prices"])
        self.stdout.write(str(summary))
