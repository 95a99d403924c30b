"""The catalogue against the upstream simulator: env-pointed providers stream, and the
admin's "Test connection" and "Import models" make real requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.test import Client

from inference import admin as inference_admin
from inference.backends import backend_for
from inference.backends.base import (
    Backend,
    BadRequestError,
    ChatRequest,
    Event,
    Finish,
    HostConfig,
    Message,
    TextDelta,
    Usage,
)
from inference.backends.http import aclose_shared_client
from inference.catalog import ResolvedModel, model_choices, resolve_models
from inference.models import Model, Provider
from inference.simulator import Scenario, Simulator

KEYS = {
    "openai": "sk-dummy-openai-1111",
    "anthropic": "sk-ant-dummy-2222",
    "gemini": "gemini-dummy-3333",
}
CHANGELIST = "/admin/inference/provider/"

pytestmark = pytest.mark.django_db


async def collect(resolved: ResolvedModel) -> list[Event]:
    request = ChatRequest(
        model=resolved.api_name,
        messages=(Message(role="user", content="Say hello"),),
        max_tokens=64,
    )
    try:
        return [event async for event in backend_for(resolved.host).stream(request)]
    finally:
        await aclose_shared_client()


def test_env_pointed_providers_resolve_and_stream(
    sim: Simulator, seeded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEYS["openai"])
    monkeypatch.setenv("OPENAI_BASE_URL", sim.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEYS["anthropic"])
    monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.anthropic_base_url)
    monkeypatch.setenv("GEMINI_API_KEY", KEYS["gemini"])
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", sim.gemini_base_url)
    names = ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash"]

    available = {c.name for c in model_choices() if c.available}
    assert set(names) <= available
    assert "openai:gpt-4.1" in available and "groq:llama-3.3-70b-versatile" not in available

    for resolved in resolve_models(names):
        sim.set(resolved.api_name, Scenario(text=f"Hello from {resolved.label}."))
        events = asyncio.run(collect(resolved))
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert text == f"Hello from {resolved.label}.", resolved.name
        assert any(isinstance(e, Usage) and e.output_tokens for e in events)
        assert isinstance(events[-1], Finish) and events[-1].reason == "stop"

    by_wire = {r.wire: r for r in sim.requests}
    assert set(by_wire) == {"openai", "anthropic", "gemini"}
    assert by_wire["openai"].headers["authorization"] == f"Bearer {KEYS['openai']}"
    assert by_wire["anthropic"].headers["x-api-key"] == KEYS["anthropic"]
    assert by_wire["gemini"].model == "gemini-2.5-flash"


def simulated_provider(sim: Simulator, kind: str, **fields: Any) -> Provider:
    base_url = {
        "openai": sim.openai_base_url,
        "anthropic": sim.anthropic_base_url,
        "gemini": sim.gemini_base_url,
    }[kind]
    values: dict[str, Any] = {
        "label": f"Sim {kind}",
        "kind": kind,
        "base_url": base_url,
        "api_key": KEYS[kind],
        **fields,
    }
    return Provider.objects.create(slug=f"sim-{kind}", **values)


def run_action(client: Client, action: str, provider: Provider) -> str:
    response = client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(provider.pk)], "index": "0"},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
def test_test_connection_lists_the_models(admin_client: Client, sim: Simulator, kind: str) -> None:
    provider = simulated_provider(sim, kind)
    page = run_action(admin_client, "test_connection", provider)
    assert f"Sim {kind}: connected, {len(sim.models)} models listed" in page
    assert KEYS[kind] not in page
    assert any(r.wire == "models" for r in sim.requests)


class ListingRefused:
    """A backend whose listing is forbidden (as with some restricted keys)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        return self.inner.stream(request)

    async def list_models(self) -> list[str]:
        raise BadRequestError("listing models is not allowed for this key", status=403)


def test_test_connection_falls_back_to_a_one_token_reply(
    admin_client: Client, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        inference_admin,
        "backend_for",
        lambda config: ListingRefused(backend_for(config)),
    )
    provider = simulated_provider(sim, "openai")
    Model.objects.create(provider=provider, api_name="sim-fast", label="Sim fast")
    page = run_action(admin_client, "test_connection", provider)
    assert "a one-token reply from sim-fast worked" in page
    (record,) = [r for r in sim.requests if r.wire == "openai"]
    assert record.body["max_completion_tokens"] == 1


def test_test_connection_reports_a_failure_without_the_key(
    admin_client: Client, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        inference_admin,
        "backend_for",
        lambda config: ListingRefused(backend_for(config)),
    )
    provider = simulated_provider(sim, "openai")
    Model.objects.create(provider=provider, api_name="sim-fast", label="Sim fast")
    sim.set("sim-fast", Scenario(fault="auth", echo_key=True))
    page = run_action(admin_client, "test_connection", provider)
    assert "Sim openai: authentication failed" in page
    assert KEYS["openai"] not in page


def test_test_connection_without_a_key_says_so(admin_client: Client, sim: Simulator) -> None:
    provider = simulated_provider(sim, "openai", api_key="")
    page = run_action(admin_client, "test_connection", provider)
    assert "no API key (add one in the admin or set SIM_OPENAI_API_KEY)" in page
    assert sim.requests == []


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_import_models_adds_the_missing_ones_without_prices(
    admin_client: Client, sim: Simulator, kind: str
) -> None:
    provider = simulated_provider(sim, kind)
    Model.objects.create(provider=provider, api_name="sim-fast", label="Fast (mine)")
    page = run_action(admin_client, "import_models", provider)
    assert f"imported {len(sim.models) - 1} new models" in page
    models = {m.api_name: m for m in provider.models.all()}
    assert set(models) == set(sim.models)  # the embedding-only Gemini model is not listed
    assert models["sim-fast"].label == "Fast (mine)"
    assert models["sim-small"].input_price is None and not models["sim-small"].has_price

    page = run_action(admin_client, "import_models", provider)
    assert "imported 0 new models" in page


def test_host_config_of_a_simulated_provider_reaches_it(sim: Simulator) -> None:
    config = HostConfig(kind="openai", base_url=sim.openai_base_url, api_key="k")

    async def listing() -> list[str]:
        try:
            return await backend_for(config).list_models()
        finally:
            await aclose_shared_client()

    assert asyncio.run(listing()) == sim.models
