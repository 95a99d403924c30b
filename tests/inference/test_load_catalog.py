"""The seeded catalogue: its contents, its derivation, and an idempotent, quick load."""

from __future__ import annotations

import io
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from pytest_django import DjangoAssertNumQueries

from inference.management.commands.load_catalog import load_catalog
from inference.models import Model, Provider
from inference.seed import CATALOG_PATH, LICENSE_NAME

REQUIRED_NAMES = {
    "openai:gpt-4o-mini",
    "openai:gpt-4.1",
    "openai:gpt-5-mini",
    "openai:o4-mini",
    "anthropic:claude-sonnet-4-5",
    "anthropic:claude-haiku-4-5",
    "gemini:gemini-2.5-flash",
    "gemini:gemini-2.5-pro",
    "groq:llama-3.3-70b-versatile",
    "together:meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "fireworks:accounts/fireworks/models/llama-v3p3-70b-instruct",
    "deepseek:deepseek-chat",
    "deepseek:deepseek-reasoner",
    "mistral:mistral-small-latest",
    "openrouter:openai/gpt-4o-mini",
}
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.xyz/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "mistral": "https://api.mistral.ai/v1",
    "xai": "https://api.x.ai/v1",
    "ollama": "http://localhost:11434/v1",
    "vllm": "http://localhost:8000/v1",
}
PRICE_LIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "model_prices.json"


def load(*args: str) -> str:
    out = io.StringIO()
    call_command("load_catalog", *args, stdout=out)
    return out.getvalue().strip()


def seed() -> dict[str, object]:
    return json.loads(CATALOG_PATH.read_text(encoding="utf-8"))


def names() -> set[str]:
    return {m.name for m in Model.objects.select_related("provider")}


@pytest.mark.django_db
def test_catalogue_has_the_required_models_and_breadth() -> None:
    summary = load()
    assert summary.startswith("Catalogue: 13 providers (13 new), ")
    assert not REQUIRED_NAMES - names()
    per_provider = Counter(m.provider.slug for m in Model.objects.select_related("provider"))
    assert sum(per_provider.values()) >= 40
    assert len(per_provider) >= 8
    for slug in ("groq", "together", "fireworks"):
        assert any(
            "llama" in n.lower() and "70b" in n.lower() for n in names() if n.startswith(f"{slug}:")
        )


@pytest.mark.django_db
def test_providers_get_their_default_urls_and_no_base_url(seeded: None) -> None:
    providers = {p.slug: p for p in Provider.objects.all()}
    for slug, url in DEFAULT_BASE_URLS.items():
        assert providers[slug].default_base_url == url
        assert providers[slug].base_url == ""
    assert not providers["ollama"].key_required and not providers["vllm"].key_required
    assert providers["local"].kind == "local" and not providers["local"].models.exists()
    assert providers["anthropic"].kind == "anthropic" and providers["gemini"].kind == "gemini"


@pytest.mark.django_db
def test_seeded_prices_come_from_the_price_list_per_million(seeded: None) -> None:
    mini = Model.objects.get(provider__slug="openai", api_name="gpt-4o-mini")
    assert (mini.input_price, mini.output_price, mini.cached_input_price) == (
        Decimal("0.15"),
        Decimal("0.6"),
        Decimal("0.075"),
    )
    assert (mini.context_window, mini.max_output_tokens, mini.supports_reasoning) == (
        128000,
        16384,
        False,
    )
    assert Model.objects.get(provider__slug="openai", api_name="o4-mini").supports_reasoning
    groq_llama = Model.objects.get(provider__slug="groq", api_name="llama-3.3-70b-versatile")
    assert groq_llama.input_price is None and groq_llama.output_price is None  # not invented


def test_every_unpriced_or_borrowed_price_says_why() -> None:
    for provider in seed()["providers"]:  # type: ignore[attr-defined]
        for model in provider["models"]:
            if model["price_source"] is None or provider["slug"] == "openrouter":
                assert model["note"], f"{provider['slug']}:{model['api_name']}"


@pytest.mark.django_db
def test_load_is_idempotent_and_quick(
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    load()
    before = sorted(Model.objects.values_list("pk", "api_name", "input_price", "updated"))
    with django_assert_max_num_queries(8):
        summary = load()
    assert "(0 new)" in summary and "0 new, 0 updated" in summary
    assert sorted(Model.objects.values_list("pk", "api_name", "input_price", "updated")) == before


@pytest.mark.django_db
def test_load_refreshes_seeded_prices_but_not_edited_ones(seeded: None) -> None:
    mini = Model.objects.get(provider__slug="openai", api_name="gpt-4o-mini")
    o4 = Model.objects.get(provider__slug="openai", api_name="o4-mini")
    Model.objects.filter(pk=mini.pk).update(input_price=Decimal("9"))  # a stale seed value
    Model.objects.filter(pk=o4.pk).update(input_price=Decimal("7"), prices_edited=True)

    summary = load()
    assert "1 updated, 1 kept as edited in the admin" in summary
    mini.refresh_from_db()
    o4.refresh_from_db()
    assert mini.input_price == Decimal("0.15")
    assert o4.input_price == Decimal("7") and o4.prices_edited

    load("--overwrite-prices")
    o4.refresh_from_db()
    assert o4.input_price == Decimal("1.1") and not o4.prices_edited


@pytest.mark.django_db
def test_load_never_touches_keys_or_an_admin_base_url(seeded: None) -> None:
    openai = Provider.objects.get(slug="openai")
    openai.api_key = "sk-admin-secret"
    openai.base_url = "http://proxy.example/v1"
    openai.label = "OpenAI (team)"
    openai.save()
    load("--overwrite-prices")
    openai.refresh_from_db()
    assert openai.api_key == "sk-admin-secret"
    assert openai.base_url == "http://proxy.example/v1"
    assert openai.label == "OpenAI (team)"


@pytest.mark.django_db
def test_load_adds_new_seed_entries_to_existing_providers(seeded: None) -> None:
    data = seed()
    providers = data["providers"]
    assert isinstance(providers, list)
    providers[0]["models"].append(
        {"api_name": "gpt-new", "label": "GPT new", "input_price": "1", "output_price": "2"}
    )
    summary = load_catalog(seed=data)
    assert summary.models_created == 1 and summary.providers_created == 0
    assert Model.objects.get(api_name="gpt-new").output_price == Decimal(2)


@pytest.mark.skipif(not PRICE_LIST.exists(), reason="the shared price list is not on this machine")
def test_seed_is_a_reproducible_derivation_of_the_price_list(tmp_path: Path) -> None:
    output = tmp_path / "catalog.json"
    call_command(
        "build_catalog_seed",
        "--prices",
        str(PRICE_LIST),
        "--output",
        str(output),
        stdout=io.StringIO(),
    )
    assert output.read_bytes() == CATALOG_PATH.read_bytes()
    assert (tmp_path / LICENSE_NAME).read_bytes() == (
        CATALOG_PATH.parent / LICENSE_NAME
    ).read_bytes()
