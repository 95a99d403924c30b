"""`manage.py add_local_model`: a folder (offline) or a hub id becomes local:NAME."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from inference.backends.base import ChatRequest, Event, Finish, HostConfig, Message
from inference.backends.local import LocalBackend
from inference.models import Model, Provider
from tests.local.conftest import TinyModel

pytestmark = pytest.mark.django_db


def add(*args: str) -> str:
    out = StringIO()
    call_command("add_local_model", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.local
def test_a_folder_becomes_local_name(tiny_model: TinyModel) -> None:
    output = add(str(tiny_model.path), "--device", "cpu", "--gpu-hour-price", "2.50")

    name = tiny_model.path.name
    assert f"Added local:{name}" in output
    provider = Provider.objects.get(slug="local")
    assert (provider.kind, provider.label, provider.key_required) == ("local", "Local GPU", False)
    model = Model.objects.get(provider=provider, api_name=name)
    assert model.name == f"local:{name}" and model.label == name
    assert model.options == {"path": str(tiny_model.path.resolve()), "device": "cpu"}
    assert model.gpu_hour_price == Decimal("2.50")
    assert model.context_window == 1024
    assert model.has_price


@pytest.mark.local
def test_the_registered_options_stream(tiny_model: TinyModel) -> None:
    add(str(tiny_model.path), "--name", "tiny", "--device", "cpu")
    model = Model.objects.get(api_name="tiny")
    backend = LocalBackend(HostConfig(kind="local", base_url="", options=model.options))
    request = ChatRequest(model=model.api_name, messages=(Message("user", "hi"),), max_tokens=4)

    async def collect() -> list[Event]:
        return [event async for event in backend.stream(request)]

    assert asyncio.run(collect())[-1] == Finish("length")


@pytest.mark.local
def test_adding_again_updates_instead_of_duplicating(tiny_model: TinyModel) -> None:
    add(str(tiny_model.path), "--name", "tiny", "--gpu-hour-price", "1")
    output = add(str(tiny_model.path), "--name", "tiny", "--label", "Tiny", "--dtype", "float32")
    assert "Updated local:tiny" in output
    model = Model.objects.get(api_name="tiny")
    assert model.label == "Tiny" and model.gpu_hour_price is None
    assert model.options["dtype"] == "float32" and model.options["device"] == "auto"
    assert Model.objects.filter(api_name="tiny").count() == 1


def test_a_hub_id_can_be_registered_without_downloading() -> None:
    add("Qwen/Qwen3-0.6B", "--no-download")
    model = Model.objects.get(provider__slug="local")
    assert model.api_name == "Qwen3-0.6B"
    assert model.options == {"path": "Qwen/Qwen3-0.6B", "device": "auto"}


def test_bad_input_is_refused_clearly(tmp_path) -> None:
    with pytest.raises(CommandError, match="No such model folder"):
        add(str(tmp_path / "missing"))
    with pytest.raises(CommandError, match="not a transformers model"):
        add(str(tmp_path))
    with pytest.raises(CommandError, match="Invalid name"):
        add("org/model", "--no-download", "--name", "has space")
    with pytest.raises(CommandError, match="price"):
        add("org/model", "--no-download", "--gpu-hour-price", "-1")
    assert not Model.objects.exists()
