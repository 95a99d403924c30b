"""The admin: staff only, write-only keys, editable prices that pin themselves."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from inference.models import Model, Provider

SECRET = "sk-live-0123456789abcdefSECRET-wxyz"
MakeModel = Callable[..., Model]

pytestmark = pytest.mark.django_db


def provider_post(provider: Provider, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "label": provider.label,
        "slug": provider.slug,
        "kind": provider.kind,
        "enabled": "on",
        "base_url": provider.base_url,
        "default_base_url": provider.default_base_url,
        "key_required": "on",
        "read_timeout": "300",
        "api_key": "",
        "_save": "Save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def provider(db: None) -> Provider:
    return Provider.objects.create(
        slug="openai",
        label="OpenAI",
        kind="openai",
        default_base_url="https://api.openai.com/v1",
        api_key=SECRET,
    )


def change_url(provider: Provider) -> str:
    return f"/admin/inference/provider/{provider.pk}/change/"


def test_non_staff_users_are_sent_to_the_admin_login(
    client: Client, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user(username="pat", password="pw-123-long")
    client.force_login(user)
    for url in ("/admin/inference/provider/", "/admin/inference/model/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_the_key_is_never_rendered_only_its_last_four(
    admin_client: Client, provider: Provider
) -> None:
    for url in (change_url(provider), "/admin/inference/provider/"):
        page = admin_client.get(url).content.decode()
        assert SECRET not in page
        assert SECRET[:-4] not in page
        assert "…wxyz" in page


def test_a_blank_key_keeps_the_stored_one(admin_client: Client, provider: Provider) -> None:
    response = admin_client.post(change_url(provider), provider_post(provider, label="OpenAI 2"))
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.label == "OpenAI 2" and provider.api_key == SECRET


def test_a_new_key_replaces_the_stored_one(admin_client: Client, provider: Provider) -> None:
    admin_client.post(change_url(provider), provider_post(provider, api_key="  sk-new-1111  "))
    provider.refresh_from_db()
    assert provider.api_key == "sk-new-1111"


def test_the_clear_box_removes_the_key(admin_client: Client, provider: Provider) -> None:
    admin_client.post(change_url(provider), provider_post(provider, clear_api_key="on"))
    provider.refresh_from_db()
    assert provider.api_key == ""


def test_a_new_key_and_clear_together_is_an_error_that_does_not_echo_the_key(
    admin_client: Client, provider: Provider
) -> None:
    response = admin_client.post(
        change_url(provider),
        provider_post(provider, api_key="sk-typed-9999-typed", clear_api_key="on"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "not both" in page
    assert "sk-typed-9999-typed" not in page and SECRET not in page
    provider.refresh_from_db()
    assert provider.api_key == SECRET


def test_a_provider_added_in_the_admin_stores_its_key_encrypted(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/inference/provider/add/",
        {
            "label": "Acme",
            "slug": "acme",
            "kind": "openai",
            "enabled": "on",
            "base_url": "http://acme.example/v1",
            "default_base_url": "",
            "key_required": "on",
            "read_timeout": "120",
            "api_key": "sk-acme-5555",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    assert Provider.objects.get(slug="acme").api_key == "sk-acme-5555"


def test_providers_list_shows_where_the_key_comes_from(
    admin_client: Client, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    Provider.objects.create(slug="groq", label="Groq", kind="openai")
    Provider.objects.create(slug="ollama", label="Ollama", kind="openai", key_required=False)
    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-env-7777")
    page = admin_client.get("/admin/inference/provider/").content.decode()
    assert "from GROQ_API_KEY" in page and "gsk-from-env" not in page
    assert "not needed" in page


def test_editing_a_price_in_the_change_form_pins_it(
    admin_client: Client, make_model: MakeModel
) -> None:
    model = make_model("acme:one", input_price=Decimal("1"), output_price=Decimal("2"))
    url = f"/admin/inference/model/{model.pk}/change/"
    base = {
        "provider": model.provider_id,
        "api_name": "one",
        "label": "One",
        "enabled": "on",
        "input_price": "1",
        "output_price": "2",
        "cached_input_price": "",
        "gpu_hour_price": "",
        "context_window": "",
        "max_output_tokens": "",
        "options": "{}",
        "_save": "Save",
    }
    assert admin_client.post(url, base).status_code == 302
    model.refresh_from_db()
    assert model.label == "One" and not model.prices_edited

    assert admin_client.post(url, {**base, "output_price": "2.5"}).status_code == 302
    model.refresh_from_db()
    assert model.output_price == Decimal("2.5") and model.prices_edited


def test_editing_a_price_in_the_list_pins_it(admin_client: Client, make_model: MakeModel) -> None:
    first = make_model("acme:one", input_price=Decimal("1"), output_price=Decimal("2"))
    second = make_model("acme:two", input_price=Decimal("3"), output_price=Decimal("4"))
    rows = sorted([first, second], key=lambda m: (m.provider.label, m.label))
    data: dict[str, Any] = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, model in enumerate(rows):
        data |= {
            f"form-{index}-id": str(model.pk),
            f"form-{index}-input_price": str(model.input_price),
            f"form-{index}-output_price": str(model.output_price),
            f"form-{index}-cached_input_price": "",
            f"form-{index}-gpu_hour_price": "",
            f"form-{index}-enabled": "on",
        }
    data[f"form-{rows.index(second)}-input_price"] = "0.5"
    response = admin_client.post("/admin/inference/model/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.input_price == Decimal("0.5") and second.prices_edited
    assert not first.prices_edited


def test_model_list_filters_and_search(admin_client: Client, seeded: None) -> None:
    unpriced = admin_client.get("/admin/inference/model/?has_price=no").content.decode()
    assert "llama-3.3-70b-versatile" in unpriced and "gpt-4o-mini" not in unpriced
    for query in (
        "?provider__kind=anthropic",
        "?supports_reasoning__exact=1",
        "?enabled__exact=1",
        "?has_price=yes",
        "?q=llama",
        f"?provider__id__exact={Provider.objects.get(slug='groq').pk}",
    ):
        assert admin_client.get(f"/admin/inference/model/{query}").status_code == 200, query
    anthropic = admin_client.get("/admin/inference/model/?provider__kind=anthropic").content
    assert b"claude-haiku-4-5" in anthropic and b"gpt-4o-mini" not in anthropic
