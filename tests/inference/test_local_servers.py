"""Local-server providers are seeded disabled, and a key never follows its provider to
another host (issue 13, hole 13)."""

from __future__ import annotations

import importlib
import io

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from inference.catalog import ModelUnavailableError, resolve_models
from inference.models import Model, Provider, is_local_server

pytestmark = pytest.mark.django_db


def load() -> str:
    out = io.StringIO()
    call_command("load_catalog", stdout=out)
    return out.getvalue()


def enabled() -> dict[str, bool]:
    return dict(Provider.objects.values_list("slug", "enabled"))


def test_local_servers_are_seeded_disabled_and_the_load_says_so():
    output = load()
    state = enabled()
    assert state["ollama"] is False and state["vllm"] is False
    assert all(state[slug] for slug in ("openai", "anthropic", "groq", "local"))
    assert "Local servers disabled until an admin enables them" in output
    assert "ollama, vllm" in output
    model = Model.objects.filter(provider__slug="ollama").first()
    if model is not None:
        with pytest.raises(ModelUnavailableError, match="provider disabled"):
            resolve_models([model.name])


def test_loading_again_never_changes_what_an_admin_enabled_or_disabled():
    load()
    Provider.objects.filter(slug="ollama").update(enabled=True)  # the admin runs Ollama
    Provider.objects.filter(slug="openai").update(enabled=False)  # and wants no OpenAI
    output = load()
    state = enabled()
    assert state["ollama"] is True and state["openai"] is False and state["vllm"] is False
    assert "vllm" in output and "ollama" not in output.split("enables them")[1]


def test_existing_installs_have_their_seeded_local_servers_disabled_once():
    load()
    Provider.objects.filter(slug__in=["ollama", "vllm"]).update(enabled=True)  # the old seed
    Provider.objects.filter(slug="vllm").update(base_url="http://gpu-box:8000/v1")  # configured
    migration = importlib.import_module("inference.migrations.0002_local_servers_disabled")
    migration.disable_seeded_local_servers(apps, None)
    state = enabled()
    assert state["ollama"] is False  # seeded as it was, never configured: disabled
    assert state["vllm"] is True  # an admin pointed it somewhere: left alone


@pytest.mark.parametrize(
    ("kind", "key_required", "url", "local"),
    [
        ("openai", False, "http://localhost:11434/v1", True),
        ("openai", False, "http://127.0.0.1:8000/v1", True),
        ("openai", False, "http://[::1]:8000/v1", True),
        ("openai", False, "http://192.168.1.20:8000/v1", True),
        ("openai", False, "https://api.example.com/v1", False),
        ("openai", True, "http://localhost:8000/v1", False),  # a key: not an open door
        ("local", False, "", False),
    ],
)
def test_what_counts_as_a_local_server(kind, key_required, url, local):
    assert is_local_server(kind=kind, key_required=key_required, base_url=url) is local


# --- a key stays with its host -------------------------------------------------------------


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-r00t-1"))
    return client


@pytest.fixture
def groq() -> Provider:
    return Provider.objects.create(
        slug="groq2",
        label="Groq",
        kind="openai",
        base_url="https://api.groq.com/openai/v1",
        api_key="gsk-the-stored-groq-key-1234",
    )


def save(client: Client, provider: Provider, **changes: str):
    data = {
        "label": provider.label,
        "slug": provider.slug,
        "kind": provider.kind,
        "enabled": "on",
        "base_url": provider.base_url,
        "default_base_url": provider.default_base_url,
        "read_timeout": "300",
        "key_required": "on",
        "api_key": "",
        **changes,
    }
    return client.post(f"/admin/inference/provider/{provider.pk}/change/", data, follow=True)


def test_moving_the_base_url_to_another_host_clears_the_stored_key(staff, groq):
    response = save(staff, groq, base_url="https://attacker.example/v1")
    assert response.status_code == 200
    provider = Provider.objects.get(pk=groq.pk)
    assert provider.base_url == "https://attacker.example/v1" and provider.api_key == ""
    text = response.content.decode()
    assert "points at another host" in text and "stored key was cleared" in text


@pytest.mark.parametrize(
    "url",
    [
        "http://api.groq.com/openai/v1",  # another scheme
        "https://api.groq.com:8443/openai/v1",  # another port
        "",  # blank: back to the default (none here), another host
    ],
)
def test_another_scheme_or_port_is_another_host(staff, groq, url):
    save(staff, groq, base_url=url)
    assert Provider.objects.get(pk=groq.pk).api_key == ""


def test_a_key_entered_in_the_same_save_is_kept(staff, groq):
    response = save(
        staff, groq, base_url="https://proxy.example/v1", api_key="sk-for-the-proxy-9999"
    )
    provider = Provider.objects.get(pk=groq.pk)
    assert provider.api_key == "sk-for-the-proxy-9999"
    assert "stored key was cleared" not in response.content.decode()


def test_the_same_host_keeps_the_key(staff, groq):
    response = save(staff, groq, base_url="https://api.groq.com/openai/v2", label="Groq v2")
    provider = Provider.objects.get(pk=groq.pk)
    assert provider.api_key == "gsk-the-stored-groq-key-1234" and provider.label == "Groq v2"
    assert "stored key was cleared" not in response.content.decode()
