"""Batch-API prices: derived from the price list, loaded (edited ones kept), frozen into a
run's price snapshot, editable in the admin, and never used for a run's own cost."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from inference.catalog import resolve_models
from inference.management.commands.build_catalog_seed import Curated, seed_model
from inference.management.commands.load_catalog import load_catalog
from inference.models import Model
from inference.pricing import PriceSnapshot, TokenCounts, run_cost
from inference.seed import CATALOG_PATH

MakeModel = Callable[..., Model]

ENTRY = {
    "mode": "chat",
    "input_cost_per_token": 2.5e-06,
    "output_cost_per_token": 1e-05,
    "input_cost_per_token_batches": 1.25e-06,
    "output_cost_per_token_batches": 5e-06,
}


def test_the_seed_takes_the_batch_prices_per_million() -> None:
    entry = seed_model(Curated("m", "M", "m"), {"m": ENTRY})
    assert (entry["input_price"], entry["output_price"]) == ("2.5", "10")
    assert (entry["batch_input_price"], entry["batch_output_price"]) == ("1.25", "5")
    plain = {key: value for key, value in ENTRY.items() if "batches" not in key}
    entry = seed_model(Curated("m", "M", "m"), {"m": plain})
    assert entry["batch_input_price"] is None and entry["batch_output_price"] is None
    unpriced = seed_model(Curated("x", "X", None, note="none"), {})
    assert unpriced["batch_input_price"] is None


def test_the_seeded_catalogue_lists_batch_prices_where_the_price_list_has_them() -> None:
    seed = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    models = {f"{p['slug']}:{m['api_name']}": m for p in seed["providers"] for m in p["models"]}
    mini = models["openai:gpt-4o-mini"]
    assert (mini["batch_input_price"], mini["batch_output_price"]) == ("0.075", "0.3")
    haiku = models["anthropic:claude-haiku-4-5"]
    assert (haiku["batch_input_price"], haiku["batch_output_price"]) == ("0.5", "2.5")
    assert models["deepseek:deepseek-chat"]["batch_input_price"] is None
    assert all("batch_input_price" in m and "batch_output_price" in m for m in models.values())


@pytest.mark.django_db
def test_load_catalog_loads_them_and_keeps_the_admins(seeded: None) -> None:
    mini = Model.objects.get(provider__slug="openai", api_name="gpt-4o-mini")
    assert (mini.batch_input_price, mini.batch_output_price) == (Decimal("0.075"), Decimal("0.3"))
    o4 = Model.objects.get(provider__slug="openai", api_name="o4-mini")
    Model.objects.filter(pk=mini.pk).update(batch_output_price=Decimal("9"))  # a stale value
    Model.objects.filter(pk=o4.pk).update(batch_input_price=Decimal("7"), prices_edited=True)

    out = io.StringIO()
    call_command("load_catalog", stdout=out)
    assert "1 updated, 1 kept as edited in the admin" in out.getvalue()
    mini.refresh_from_db()
    o4.refresh_from_db()
    assert mini.batch_output_price == Decimal("0.3")
    assert o4.batch_input_price == Decimal("7") and o4.prices_edited

    call_command("load_catalog", "--overwrite-prices", stdout=io.StringIO())
    o4.refresh_from_db()
    assert o4.batch_input_price == Decimal("0.55") and not o4.prices_edited


@pytest.mark.django_db
def test_an_older_seed_without_batch_prices_loads_them_as_unknown(seeded: None) -> None:
    seed: dict[str, Any] = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    for provider in seed["providers"]:
        for model in provider["models"]:
            model.pop("batch_input_price")
            model.pop("batch_output_price")
    summary = load_catalog(seed=seed)
    assert summary.models_updated > 0
    mini = Model.objects.get(provider__slug="openai", api_name="gpt-4o-mini")
    assert mini.batch_input_price is None and mini.input_price == Decimal("0.15")


@pytest.mark.django_db
def test_a_runs_snapshot_lists_batch_prices_only_when_known(
    monkeypatch: pytest.MonkeyPatch, make_model: MakeModel
) -> None:
    monkeypatch.setenv("ACME_API_KEY", "k")
    make_model(
        "acme:batched",
        input_price=Decimal("2"),
        output_price=Decimal("8"),
        batch_input_price=Decimal("1"),
        batch_output_price=Decimal("4"),
    )
    make_model("acme:plain", input_price=Decimal("2"), output_price=Decimal("8"))
    batched, plain = resolve_models(["acme:batched", "acme:plain"])
    frozen = json.loads(json.dumps(batched.prices.as_json()))
    assert frozen == {
        "input_per_m": "2.000000",
        "output_per_m": "8.000000",
        "cached_input_per_m": None,
        "gpu_hour": None,
        "batch_input_per_m": "1.000000",
        "batch_output_per_m": "4.000000",
    }
    assert PriceSnapshot.from_json(frozen) == batched.prices and batched.prices.batch_known
    assert "batch_input_per_m" not in plain.prices.as_json()
    assert not plain.prices.batch_known
    # A run is always billed at the standard prices: batch prices are for cost at volume.
    counts = TokenCounts(input_tokens=1_000_000, output_tokens=1_000_000)
    assert run_cost(counts, batched.prices) == run_cost(counts, plain.prices) == Decimal(10)


def test_a_gpu_hour_snapshot_has_no_batch_tier() -> None:
    prices = PriceSnapshot(
        gpu_hour=Decimal(2), batch_input_per_m=Decimal(1), batch_output_per_m=Decimal(1)
    )
    assert not prices.batch_known


@pytest.mark.django_db
def test_the_admin_shows_and_edits_them(admin_client: Client, make_model: MakeModel) -> None:
    model = make_model("acme:one", input_price=Decimal("1"), output_price=Decimal("2"))
    listing = admin_client.get("/admin/inference/model/").content.decode()
    assert "column-batch_input_price" in listing and "column-batch_output_price" in listing
    url = f"/admin/inference/model/{model.pk}/change/"
    form = admin_client.get(url).content.decode()
    assert 'name="batch_input_price"' in form and 'name="batch_output_price"' in form
    data = {
        "provider": model.provider_id, "api_name": "one", "label": "One", "enabled": "on",
        "input_price": "1", "output_price": "2", "cached_input_price": "",
        "batch_input_price": "0.5", "batch_output_price": "1", "gpu_hour_price": "",
        "context_window": "", "max_output_tokens": "", "options": "{}", "_save": "Save",
    }  # fmt: skip
    assert admin_client.post(url, data).status_code == 302
    model.refresh_from_db()
    assert (model.batch_input_price, model.batch_output_price) == (Decimal("0.5"), Decimal(1))
    assert model.prices_edited  # an edited batch price is kept by load_catalog too
