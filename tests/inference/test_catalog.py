"""Names, availability, host configuration and resolution of catalogue models."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from pytest_django import DjangoAssertNumQueries

from inference.backends import local
from inference.catalog import (
    ModelUnavailableError,
    UnknownModelError,
    host_config,
    model_choices,
    resolve_models,
    split_name,
)
from inference.models import Model, Provider
from inference.pricing import PriceSnapshot, TokenCounts, run_cost

MakeModel = Callable[..., Model]


def test_split_name_splits_at_the_first_colon() -> None:
    assert split_name("openai:gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert split_name("ollama:qwen3:8b") == ("ollama", "qwen3:8b")


@pytest.mark.parametrize("bad", ["gpt-4o-mini", ":gpt-4o", "openai:", ""])
def test_split_name_rejects_names_without_provider_and_model(bad: str) -> None:
    with pytest.raises(ValueError, match="expected provider:model"):
        split_name(bad)


@pytest.mark.django_db
def test_host_config_precedence_admin_then_env_then_default(
    monkeypatch: pytest.MonkeyPatch, make_model: MakeModel
) -> None:
    provider = make_model("openai:gpt-4o-mini").provider
    provider.default_base_url = "https://api.openai.com/v1"

    config = host_config(provider)
    assert (config.kind, config.base_url, config.api_key) == (
        "openai",
        "https://api.openai.com/v1",
        "",
    )

    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.example/v1/")
    config = host_config(provider)
    assert (config.base_url, config.api_key) == ("http://env.example/v1", "env-key")

    provider.api_key = "admin-key"
    provider.base_url = "http://admin.example/v1"
    provider.save()
    provider.refresh_from_db()
    config = host_config(provider)
    assert (config.base_url, config.api_key) == ("http://admin.example/v1", "admin-key")
    assert "admin-key" not in repr(config)


@pytest.mark.django_db
@pytest.mark.parametrize("key_var", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
def test_gemini_takes_google_variables(
    monkeypatch: pytest.MonkeyPatch, make_model: MakeModel, key_var: str
) -> None:
    provider = make_model("gemini:gemini-2.5-flash", provider_kind="gemini").provider
    monkeypatch.setenv(key_var, "google-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://gemini.example")
    config = host_config(provider)
    assert (config.kind, config.base_url, config.api_key) == (
        "gemini",
        "http://gemini.example",
        "google-key",
    )


@pytest.mark.django_db
def test_local_models_pass_their_options_as_strings(make_model: MakeModel) -> None:
    model = make_model(
        "local:tiny",
        provider_kind="local",
        provider_key_required=False,
        options={"path": "/models/tiny", "max_new_tokens": 64},
    )
    config = host_config(model.provider, model)
    assert config.kind == "local"
    assert dict(config.options) == {"path": "/models/tiny", "max_new_tokens": "64"}


@pytest.mark.django_db
def test_resolve_models_in_order_with_repeats_in_one_query(
    monkeypatch: pytest.MonkeyPatch,
    make_model: MakeModel,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    make_model("acme:one", input_price=Decimal("1"), output_price=Decimal("2"))
    make_model("acme:two", context_window=1000, max_output_tokens=100, supports_reasoning=True)
    make_model("acme:odd:name")
    monkeypatch.setenv("ACME_API_KEY", "k")
    with django_assert_num_queries(1):
        resolved = resolve_models(["acme:two", "acme:one", "acme:two", "acme:odd:name"])
    assert [r.name for r in resolved] == ["acme:two", "acme:one", "acme:two", "acme:odd:name"]
    two, one = resolved[0], resolved[1]
    assert (two.api_name, two.context_window, two.max_output_tokens) == ("two", 1000, 100)
    assert two.supports_reasoning and not two.prices.known
    assert one.prices == PriceSnapshot(input_per_m=Decimal(1), output_per_m=Decimal(2))
    assert one.host.api_key == "k"
    assert one.host.base_url == "https://acme.example/v1"
    assert resolved[3].api_name == "odd:name"


@pytest.mark.django_db
def test_unknown_and_disabled_models_are_all_named(make_model: MakeModel) -> None:
    make_model("acme:off", enabled=False)
    make_model("acme:on", provider_key_required=False)
    with pytest.raises(UnknownModelError) as caught:
        resolve_models(["acme:on", "acme:nope", "acme:off", "nonsense"])
    assert caught.value.names == ("acme:nope", "acme:off", "nonsense")
    assert "acme:nope" in str(caught.value) and "acme:off" in str(caught.value)


@pytest.mark.django_db
def test_keyless_model_is_unavailable_with_a_clear_reason(make_model: MakeModel) -> None:
    make_model("openai:gpt-4o-mini")
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_models(["openai:gpt-4o-mini"])
    assert str(caught.value) == (
        "openai:gpt-4o-mini is not available: no API key "
        "(add one in the admin or set OPENAI_API_KEY)"
    )


@pytest.mark.django_db
def test_disabled_provider_makes_its_models_unavailable(make_model: MakeModel) -> None:
    make_model("acme:one", provider_enabled=False, provider_api_key="k")
    with pytest.raises(ModelUnavailableError, match="acme:one is not available: provider disabled"):
        resolve_models(["acme:one"])


@pytest.mark.django_db
def test_local_models_need_no_key_but_the_local_extra(
    monkeypatch: pytest.MonkeyPatch, make_model: MakeModel
) -> None:
    make_model("local:tiny", provider_kind="local", provider_key_required=False)
    monkeypatch.setattr(local, "missing_extra_reason", lambda: "")
    assert resolve_models(["local:tiny"])[0].kind == "local"
    monkeypatch.setattr(local, "missing_extra_reason", lambda: "install the [local] extra")
    with pytest.raises(ModelUnavailableError, match="install the \\[local\\] extra"):
        resolve_models(["local:tiny"])


@pytest.mark.django_db
def test_model_choices_lists_available_first_with_reasons(
    monkeypatch: pytest.MonkeyPatch, make_model: MakeModel
) -> None:
    make_model("zeta:z1", provider_key_required=False, label="Z one")
    make_model("acme:a1", label="A one")
    make_model("acme:hidden", enabled=False)
    make_model("beta:b1", provider_enabled=False, provider_key_required=False)
    choices = model_choices()
    assert [(c.name, c.available, c.reason) for c in choices] == [
        ("zeta:z1", True, ""),
        ("acme:a1", False, "no API key (add one in the admin or set ACME_API_KEY)"),
        ("beta:b1", False, "provider disabled"),
    ]
    monkeypatch.setenv("ACME_API_KEY", "k")
    assert [c.name for c in model_choices() if c.available] == ["acme:a1", "zeta:z1"]


@pytest.mark.django_db
def test_model_choices_takes_one_query_however_many_models(
    seeded: None, make_model: MakeModel, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(1):
        before = model_choices()
    for index in range(20):
        make_model(f"acme{index % 3}:extra-{index}")
    with django_assert_num_queries(1):
        after = model_choices()
    assert len(after) == len(before) + 20
    gpt = next(c for c in after if c.name == "openai:gpt-4o-mini")
    assert gpt.prices.input_per_m == Decimal("0.15")
    assert gpt.context_window == 128000


@pytest.mark.django_db
def test_a_price_snapshot_keeps_its_cost_when_the_price_changes(make_model: MakeModel) -> None:
    model = make_model("acme:one", input_price=Decimal("1"), output_price=Decimal("4"))
    stored = model.price_snapshot().as_json()  # what a run keeps
    counts = TokenCounts(input_tokens=1_000_000, output_tokens=1_000_000)

    Model.objects.filter(pk=model.pk).update(input_price=Decimal("10"), output_price=Decimal("40"))
    model.refresh_from_db()

    assert run_cost(counts, PriceSnapshot.from_json(stored)) == Decimal(5)
    assert run_cost(counts, model.price_snapshot()) == Decimal(50)


@pytest.mark.django_db
def test_local_models_are_priced_per_gpu_hour(make_model: MakeModel) -> None:
    model = make_model(
        "local:tiny", provider_kind="local", gpu_hour_price=Decimal("2"), input_price=Decimal(1)
    )
    assert model.price_snapshot() == PriceSnapshot(gpu_hour=Decimal(2))
    assert Provider.objects.get(slug="local").kind == Provider.Kind.LOCAL
