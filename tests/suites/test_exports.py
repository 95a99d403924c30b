"""A suite run's exports: exactly one row per unit with its figures as saved, missing figures
null (JSON) or empty (CSV), never 0; the per-model figures and the run's metadata in JSON;
CSV cells safe from spreadsheet formulas; the owner's only."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from playground.suites import services
from playground.suites.models import SuiteUnit
from playground.suites.services import ModelSpec
from tests.suites.runs import answers, create_run, finish

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = [
    ModelSpec("sim:alpha", temperature=0.3, max_tokens=64),
    ModelSpec("sim:beta"),
    ModelSpec("sim:gamma"),  # no price: its cost is unknown
]


@pytest.fixture
def finished(user, sim, sim_models):
    answers(sim)
    sim.set("gamma", _gamma())
    return finish(create_run(user, models=MODELS, repeats=2))


def _gamma():
    from inference.simulator import Scenario

    return Scenario(chunks=["gamma ", "yes"], input_tokens=7, output_tokens=3)


def get(user, url):
    client = Client()
    client.force_login(user)
    return client.get(url)


def test_json_has_one_row_per_unit_with_its_figures(user, finished):
    response = get(user, f"/suites/runs/{finished.pk}/export.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    rows = data["units"]
    units = list(SuiteUnit.objects.filter(suite_run=finished).select_related("run", "case"))
    assert len(rows) == len(units) == 2 * 3 * 2
    assert [row["unit_order"] for row in rows] == list(range(12))
    by_order = {unit.order: unit for unit in units}
    for row in rows:
        unit = by_order[row["unit_order"]]
        run = unit.run
        assert run is not None
        assert (row["case_index"], row["model"], row["repeat"]) == (
            unit.case.index, unit.model_name, unit.repeat,
        )  # fmt: skip
        assert (row["unit_status"], row["run_status"], row["run_id"]) == (
            "finished", run.status, run.pk,
        )  # fmt: skip
        assert row["passed"] is unit.passed
        assert row["ttft_ms"] == run.ttft_ms and row["total_ms"] == run.total_ms
        assert row["cost_usd"] == (None if run.cost is None else f"{run.cost:f}")
        assert row["prices"] == run.prices
    alpha = [row for row in rows if row["model"] == "sim:alpha"]
    beta = [row for row in rows if row["model"] == "sim:beta"]
    gamma = [row for row in rows if row["model"] == "sim:gamma"]
    # The prompt as sent (its variables filled in), and the system prompt to the owner.
    assert {row["prompt"] for row in alpha} == {"Say yes for case one", "=1+1 is it yes?"}
    assert {row["system"] for row in alpha} == {"You are terse about yes.", None}
    assert all(row["run_status"] == "done" and row["passed"] is True for row in alpha)
    assert {(r["input_tokens"], r["output_tokens"], r["cost_usd"]) for r in alpha} == {
        (10, 20, "0.00009000")
    }
    assert all(row["cost_source"] == "provider" for row in alpha)
    case_two = next(row for row in alpha if row["case_index"] == 1)
    assert [(c["check"], c["expected"], c["passed"]) for c in case_two["checks"]] == [
        ("contains", "yes", True), ("contains", "ok", True), ("max_output_tokens", "≤ 100", True),
    ]  # fmt: skip
    # Refused before a token: no figures are null, never 0.
    assert all(row["run_status"] == "error" and row["passed"] is False for row in beta)
    assert all(row["ttft_ms"] is None and row["tokens_per_s"] is None for row in beta)
    assert all(row["checks"] == [] for row in beta)
    # No price: the cost is unknown, not $0.
    assert all(row["cost_usd"] is None and row["output_tokens"] == 3 for row in gamma)


def test_json_has_the_runs_metadata_and_per_model_figures(user, finished):
    data = json.loads(get(user, f"/suites/runs/{finished.pk}/export.json").content)
    meta = data["suite_run"]
    assert meta["id"] == finished.pk
    assert (meta["seed"], meta["repeats"], meta["units"]) == (7, 2, 12)
    assert meta["status"] == "done"
    assert meta["suite"] == {"id": finished.suite_id, "name": "two cases", "version": 1}
    assert meta["models"] == [
        {"model": "sim:alpha", "temperature": 0.3, "max_tokens": 64},
        {"model": "sim:beta", "temperature": None, "max_tokens": None},
        {"model": "sim:gamma", "temperature": None, "max_tokens": None},
    ]
    assert meta["owner"] == "ada"
    assert Decimal(meta["spent_usd"]) == Decimal("0.00036")  # alpha's 4 answers
    alpha, beta, gamma = data["models"]
    assert (alpha["model"], alpha["requests"], alpha["errors"], alpha["pass_rate"]) == (
        "sim:alpha", 4, 0, 1.0,
    )  # fmt: skip
    assert alpha["cost_usd_total"] == "0.00036000"
    assert alpha["volume"]["requests_per_day"] == 10_000
    assert alpha["volume"]["per_day_usd"] == "0.90000000"
    assert (beta["errors"], beta["ttft_ms"]["p50"], beta["cost_per_day_usd"]) == (4, None, None)
    assert gamma["cost_usd_total"] is None and gamma["cost_unknown_runs"] == 4


def test_csv_has_one_row_per_unit_checks_as_columns_and_no_formulas(user, finished):
    response = get(user, f"/suites/runs/{finished.pk}/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 12
    header = list(rows[0])
    assert header[:9] == [
        "unit_order", "case_index", "prompt", "system", "model", "repeat", "unit_status",
        "run_status", "passed",
    ]  # fmt: skip
    assert header[9:11] == ["check_contains", "check_max_output_tokens"]
    assert {"ttft_ms", "total_ms", "tokens_per_s", "input_tokens", "output_tokens",
            "reasoning_tokens", "cached_tokens", "cost_usd", "cost_source", "prices",
            "run_id"} <= set(header)  # fmt: skip
    alpha = [row for row in rows if row["model"] == "sim:alpha"]
    beta = [row for row in rows if row["model"] == "sim:beta"]
    gamma = [row for row in rows if row["model"] == "sim:gamma"]
    # A prompt a spreadsheet would run as a formula is quoted.
    assert {row["prompt"] for row in alpha} == {"Say yes for case one", "'=1+1 is it yes?"}
    assert {row["check_contains"] for row in alpha} == {"True"}
    assert {r["check_max_output_tokens"] for r in alpha if r["case_index"] == "0"} == {""}
    assert {row["cost_usd"] for row in alpha} == {"0.00009000"}
    # Unknown figures are empty cells, never 0.
    assert all(row["ttft_ms"] == "" and row["check_contains"] == "" for row in beta)
    assert all(row["cost_usd"] == "" and row["output_tokens"] == "3" for row in gamma)
    assert {row["run_id"] for row in rows} == {
        str(pk) for pk in SuiteUnit.objects.filter(suite_run=finished).values_list("run", flat=True)
    }


def test_units_that_never_ran_are_rows_without_figures(user, sim_models):
    suite_run = create_run(user, models=[ModelSpec("sim:alpha")], repeats=1)
    services.suite_run_cancel(user=user, suite_run_id=suite_run.pk)
    data = json.loads(get(user, f"/suites/runs/{suite_run.pk}/export.json").content)
    assert len(data["units"]) == 2
    for row in data["units"]:
        assert row["unit_status"] == "cancelled"
        assert row["run_status"] is None and row["run_id"] is None
        assert row["passed"] is None and row["cost_usd"] is None and row["ttft_ms"] is None
    (alpha,) = data["models"]
    assert alpha["requests"] == 0 and alpha["pass_rate"] is None
    rows = list(csv.DictReader(io.StringIO(
        get(user, f"/suites/runs/{suite_run.pk}/export.csv").content.decode()
    )))  # fmt: skip
    assert len(rows) == 2 and all(row["run_id"] == row["cost_usd"] == "" for row in rows)


def test_exports_are_the_owners_only(user, sim_models):
    suite_run = create_run(user, models=[ModelSpec("sim:alpha")], repeats=1)
    other = get_user_model().objects.create_user("eve", password="pw-eve-123456")
    for fmt in ("json", "csv"):
        assert get(other, f"/suites/runs/{suite_run.pk}/export.{fmt}").status_code == 404
    assert get(user, f"/suites/runs/{suite_run.pk}/export.xml").status_code == 404
    assert Client().get(f"/suites/runs/{suite_run.pk}/export.json").status_code == 302
