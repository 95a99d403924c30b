"""Fixtures for the catalogue tests: a clean environment and the seeded catalogue."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command

from inference.models import Model, Provider

ENV_PREFIXES = (
    "OPENAI",
    "ANTHROPIC",
    "GEMINI",
    "GOOGLE",
    "GROQ",
    "TOGETHER",
    "FIREWORKS",
    "OPENROUTER",
    "DEEPSEEK",
    "MISTRAL",
    "XAI",
    "OLLAMA",
    "VLLM",
    "LOCAL",
    "ACME",
)


@pytest.fixture(autouse=True)
def clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key or base URL from the machine running the tests leaks into them."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES) and name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)


@pytest.fixture
def seeded(db: None) -> None:
    call_command("load_catalog", stdout=io.StringIO())


@pytest.fixture
def make_model(db: None) -> Callable[..., Model]:
    """A model (and its provider, created on first use) with sensible defaults."""

    def make(name: str = "acme:model-1", **fields: Any) -> Model:
        slug, api_name = name.split(":", 1)
        provider_fields = {
            key.removeprefix("provider_"): fields.pop(key)
            for key in list(fields)
            if key.startswith("provider_")
        }
        provider, _ = Provider.objects.get_or_create(
            slug=slug,
            defaults={
                "label": slug.title(),
                "kind": "openai",
                "default_base_url": f"https://{slug}.example/v1",
                **provider_fields,
            },
        )
        defaults: dict[str, Any] = {"label": api_name, **fields}
        return Model.objects.create(provider=provider, api_name=api_name, **defaults)

    return make
