"""Suite files (CSV, JSONL, their errors), the checks, and the terminal command."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from inference.simulator import Scenario
from playground.models import Run
from playground.suites.aggregates import percentile
from playground.suites.checks import evaluate
from playground.suites.models import Suite, SuiteRun
from playground.suites.parsing import SuiteFileError, parse_text, render


def test_csv_with_variables_system_and_checks():
    text = (
        "prompt,system,city,expect_contains,expect_json,expect_max_latency_ms\n"
        '"Weather in {{city}}?",You answer about {{ city }},Paris,sun,false,5000\n'
        "Capital of {{city}}?,,Rome,,true,\n"
    )
    first, second = parse_text(text, filename="s.csv")
    assert render(first.prompt, first.vars) == "Weather in Paris?"
    assert render(first.system, first.vars) == "You answer about Paris"
    assert first.checks == {"contains": ["sun"], "max_latency_ms": 5000}
    assert second.checks == {"json": True}


def test_jsonl_with_every_check():
    line = {
        "prompt": "JSON please",
        "expect": {"contains": ["a"], "not_contains": "zzz", "regex": "^\\{", "json": True,
                   "json_schema": {"type": "object", "required": ["a"]},
                   "max_output_tokens": 50, "max_latency_ms": 1000},
    }  # fmt: skip
    (case,) = parse_text(json.dumps(line) + "\n\n", filename="s.jsonl")
    results = evaluate(case.checks, text='{"a": 1}', output_tokens=5, total_ms=10.0)
    assert [r.check for r in results] == [
        "contains", "not_contains", "regex", "json", "json_schema",
        "max_output_tokens", "max_latency_ms",
    ]  # fmt: skip
    assert all(r.passed for r in results)
    failed = evaluate(case.checks, text='{"b": 1}', output_tokens=99, total_ms=2000.0)
    assert {r.check for r in failed if not r.passed} == {
        "contains", "json_schema", "max_output_tokens", "max_latency_ms",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "question\nhi\n", "no `prompt` column"),
        ("a.csv", "prompt\n{{x}}\n", "line 2: no value for {{x}}"),
        ("a.csv", "prompt,expect_json\nhi,maybe\n", "line 2: expect_json must be true or false"),
        ("a.jsonl", '{"prompt": "ok"}\n{"prompt": \n', "line 2: not JSON"),
        ("a.jsonl", '{"prompt": ""}\n', "line 1: the prompt is empty"),
        ("a.jsonl", '{"prompt": "x", "expect": {"regex": "("}}\n', "is not a regex"),
        (
            "a.jsonl",
            '{"prompt": "x", "expect": {"json_schema": {"type": 5}}}\n',
            "not a valid schema",
        ),
        ("a.jsonl", '{"prompt": "x", "expect": {"smells": "nice"}}\n', "unknown check 'smells'"),
        ("a.jsonl", '{"prompt": "x", "extra": 1}\n', "unknown keys extra"),
        ("a.jsonl", "\n\n", "no cases"),
        ("a.txt", "prompt\nhi\n", "expected a .csv or .jsonl file"),
    ],
)
def test_bad_files_say_what_and_where(name, text, message):
    with pytest.raises(SuiteFileError, match=message.replace("{", r"\{").replace("(", r"\(")):
        parse_text(text, filename=name)


def test_percentiles_interpolate_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 50) == 30.0
    assert percentile(values, 95) == 48.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


@pytest.mark.django_db(transaction=True)
def test_a_bad_file_writes_nothing(tmp_path, user, sim_models):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "fine"}\n{"prompt": "{{missing}}"}\n')
    with pytest.raises(CommandError, match="line 2: no value"):
        call_command("suite", "start", str(path), "--model", "sim:alpha", "--user", "ada")
    assert not Suite.objects.exists() and not SuiteRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_suite_run_json_shape(tmp_path, user, sim, sim_models):
    sim.set("alpha", Scenario(chunks=["yes ", "ok"], input_tokens=10, output_tokens=20))
    sim.set("beta", Scenario(chunks=["no"], fault="server_error", fault_count=-1))
    path = tmp_path / "cases.csv"
    path.write_text("prompt,expect_contains\nOne?,yes\nTwo?,yes\n")
    out = io.StringIO()
    call_command(
        "suite", "run", str(path), "--model", "sim:alpha", "--model", "sim:beta",
        "--repeat", "2", "--json", "--user", "ada", stdout=out,
    )  # fmt: skip
    result = json.loads(out.getvalue())
    assert set(result) == {"id", "url", "units", "models"}
    assert result["units"] == 8
    assert result["url"].endswith(f"/suites/runs/{result['id']}/")
    alpha, beta = result["models"]
    assert set(alpha) == {
        "model", "requests", "errors", "pass_rate", "ttft_ms", "total_ms", "tokens_per_s",
        "input_tokens_mean", "output_tokens_mean", "cost_usd_total", "cost_per_request_usd",
        "cost_per_day_usd", "cost_per_day_batch_usd",
    }  # fmt: skip
    # The simulator's models list no batch price: no batch-tier figure, never 0.
    assert alpha["cost_per_day_batch_usd"] is None
    assert set(alpha["ttft_ms"]) == set(alpha["total_ms"]) == {"p50", "p95"}
    assert set(alpha["tokens_per_s"]) == {"p50"}
    assert (alpha["model"], alpha["requests"], alpha["errors"]) == ("sim:alpha", 4, 0)
    assert alpha["pass_rate"] == 1.0
    assert alpha["cost_usd_total"] == "0.00036000"
    assert alpha["cost_per_request_usd"] == "0.00009000"
    assert alpha["cost_per_day_usd"] == "0.90000000"
    # beta failed every time: errors, no latency, no token mix to project.
    assert (beta["requests"], beta["errors"], beta["pass_rate"]) == (4, 4, 0.0)
    assert beta["ttft_ms"] == {"p50": None, "p95": None}
    assert beta["cost_per_day_usd"] is None
    assert beta["cost_usd_total"] == "0.00000000"  # refused before a token: not billed
    runs = Run.objects.filter(comparison__suite_run__pk=result["id"])
    assert runs.count() == 8

    status = io.StringIO()
    call_command("suite", "status", str(result["id"]), "--json", stdout=status)
    progress = json.loads(status.getvalue())
    assert (progress["status"], progress["done"], progress["failed"]) == ("done", 4, 4)
    assert progress["remaining"] == 0
