"""One run serialisation: the terminal's `compare --json` and the exports say the same thing
with the same field names; cost as a decimal string; null when unknown."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client

from inference.simulator import Scenario
from playground.models import Comparison, Run, Turn
from playground.serialization import RUN_FIELDS, run_as_dict

pytestmark = pytest.mark.django_db

README_FIELDS = {
    "model", "model_label", "provider_label", "position", "status", "text", "reasoning",
    "error", "ttft_ms", "answer_ttft_ms", "total_ms", "tokens_per_s", "input_tokens",
    "output_tokens", "cached_tokens", "reasoning_tokens", "tokens_estimated", "cost_usd",
    "cost_source", "retries", "retry_wait_ms", "temperature", "max_tokens", "finish_reason",
}  # fmt: skip


def make_run(owner, **fields) -> Run:
    comparison = Comparison.objects.create(owner=owner, title="t")
    turn = Turn.objects.create(comparison=comparison, index=0, prompt="t")
    return Run.objects.create(
        comparison=comparison,
        turn=turn,
        position=0,
        model_name="sim:alpha",
        model_label="Alpha",
        provider_label="Sim",
        provider_kind="openai",
        **fields,
    )


def test_every_field_once_in_one_order(user):
    run = make_run(user, status=Run.Status.DONE, text="hi")
    data = run_as_dict(run)
    assert list(data) == list(RUN_FIELDS)
    assert set(data) >= README_FIELDS


def test_cost_is_a_decimal_string_and_unknowns_are_null(user):
    priced = make_run(
        user,
        status=Run.Status.DONE,
        cost=Decimal("0.000123"),
        cost_source=Run.CostSource.PROVIDER,
        ttft_ms=120.0,
        input_tokens=12,
        retries=1,
        retry_wait_ms=600.0,
    )
    priced.refresh_from_db()  # as saved: eight decimal places
    data = run_as_dict(priced)
    assert data["cost_usd"] == "0.00012300" and Decimal(data["cost_usd"]) == priced.cost
    assert data["retries"] == 1 and data["retry_wait_ms"] == 600.0
    assert data["ttft_ms"] == 120.0 and data["input_tokens"] == 12

    refused = make_run(
        user, status=Run.Status.ERROR, cost=Decimal(0), cost_source=Run.CostSource.NOT_BILLED
    )
    refused.refresh_from_db()
    data = run_as_dict(refused)
    assert data["cost_usd"] == "0.00000000"  # not "0E-8", not 0.0
    assert data["cost_source"] == "not_billed"
    assert data["retries"] == 0 and data["retry_wait_ms"] is None

    unpriced = make_run(user, status=Run.Status.STOPPED)
    data = run_as_dict(unpriced)
    for name in ("cost_usd", "ttft_ms", "total_ms", "tokens_per_s", "input_tokens"):
        assert data[name] is None, name
    assert data["cost_source"] == "unknown"


@pytest.mark.django_db(transaction=True)
def test_terminal_json_equals_the_exports(user, sim, sim_models, capsys):
    sim.set("alpha", Scenario(text="Alpha answers", reasoning="Thinking first."))
    sim.set("gamma", Scenario(text="Gamma has no price"))
    sim.set("beta", Scenario(fault="auth", fault_count=-1))
    call_command(
        "compare",
        "Same numbers everywhere",
        *("--model", "sim:alpha", "--model", "sim:gamma", "--model", "sim:beta"),
        *("--user", user.username, "--max-tokens", "40", "--json"),
    )
    terminal = json.loads(capsys.readouterr().out)
    by_model = {run["model"]: run for run in terminal["runs"]}
    assert all(list(run) == list(RUN_FIELDS) for run in terminal["runs"])

    alpha, gamma, beta = by_model["sim:alpha"], by_model["sim:gamma"], by_model["sim:beta"]
    assert alpha["status"] == "done" and alpha["text"] == "Alpha answers"
    assert alpha["reasoning"] == "Thinking first."
    assert isinstance(alpha["cost_usd"], str) and Decimal(alpha["cost_usd"]) > 0
    assert alpha["model_label"] == "Alpha" and alpha["provider_label"] == "Simulated"
    assert alpha["max_tokens"] == 40 and alpha["position"] == 0
    assert gamma["status"] == "done" and gamma["cost_usd"] is None
    assert gamma["cost_source"] == "unknown"
    assert beta["status"] == "error" and beta["error"]
    assert isinstance(beta["retries"], int)

    client = Client()
    client.force_login(user)
    exported = json.loads(client.get(f"/c/{terminal['id']}/export.json").content)
    assert exported["turns"][0]["runs"] == terminal["runs"]  # the very same serialisation
