"""Pages: login in front of everything, the compare page, deep links, estimate, history."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inference.simulator import Scenario
from playground.models import Comparison, Run, Turn

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_comparison(owner, title: str, models: list[str]) -> Comparison:
    comparison = Comparison.objects.create(owner=owner, title=title)
    turn = Turn.objects.create(comparison=comparison, index=0, prompt=title)
    for position, name in enumerate(models):
        Run.objects.create(
            comparison=comparison,
            turn=turn,
            position=position,
            model_name=name,
            model_label=name,
            provider_label="Sim",
            provider_kind="openai",
            status=Run.Status.DONE,
            text=f"answer from {name}",
            cost=Decimal("0.001"),
        )
    return comparison


def test_every_page_needs_a_login(client):
    for url in ["/", "/history/", "/c/1/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200


def test_compare_page_lists_models_and_why_some_are_unavailable(user, sim_models, monkeypatch):
    from inference.models import Provider

    Provider.objects.create(
        slug="keyless",
        label="Needs Key",
        kind="openai",
        default_base_url="https://example.invalid/v1",
    )
    from inference.models import Model

    Model.objects.create(provider=Provider.objects.get(slug="keyless"), api_name="m", label="KM")
    monkeypatch.delenv("KEYLESS_API_KEY", raising=False)
    page = logged_in(user).get("/").content.decode()
    assert 'data-name="sim:alpha"' in page
    assert "no API key" in page
    assert 'ws-connect="/ws/compare/"' in page
    assert "django_htmx/htmx-2.min.js" in page and "hx-ws-2.min.js" in page


def test_deep_link_prefills_models_and_prompt(user, sim_models):
    page = logged_in(user).get("/?models=sim:alpha,sima:claude-sim&prompt=Why+is+the+sky+blue%3F")
    html = page.content.decode()
    assert 'name="models" value="sim:alpha"' in html
    assert 'name="models" value="sima:claude-sim"' in html
    assert "Why is the sky blue?" in html


def test_estimate_counts_tokens_and_prices(user, sim_models):
    response = logged_in(user).post(
        "/estimate/",
        {"prompt": "Hello world " * 10, "models": ["sim:alpha", "sim:gamma"], "max_tokens": "100"},
    )
    html = response.content.decode()
    assert "input tokens" in html
    assert "$" in html  # alpha has a price
    assert "no price for Gamma" in html


def test_history_query_count_is_constant(user, other_user, django_assert_max_num_queries):
    client = logged_in(user)
    make_comparison(user, "first prompt", ["sim:alpha", "sim:beta"])
    with CaptureQueriesContext(connection) as few:
        assert client.get("/history/").status_code == 200
    for i in range(25):
        make_comparison(user, f"prompt {i}", ["sim:alpha", "sim:beta", "sim:gamma"])
    make_comparison(other_user, "not mine", ["sim:alpha"])
    with CaptureQueriesContext(connection) as many:
        response = client.get("/history/")
    assert len(many) == len(few)
    html = response.content.decode()
    assert "prompt 24" in html and "not mine" not in html
    assert "Page 1 of 2" in html


def test_history_search_and_detail(user, other_user, sim_models):
    mine = make_comparison(user, "about llamas", ["sim:alpha"])
    make_comparison(user, "about cats", ["sim:alpha"])
    theirs = make_comparison(other_user, "about llamas too", ["sim:alpha"])
    client = logged_in(user)
    html = client.get("/history/?q=llama").content.decode()
    assert "about llamas" in html and "about cats" not in html and "llamas too" not in html
    detail = client.get(f"/c/{mine.pk}/").content.decode()
    assert "answer from sim:alpha" in detail and 'class="panel-foot"' in detail
    assert client.get(f"/c/{theirs.pk}/").status_code == 404
    assert client.get(f"/?from={theirs.pk}").status_code == 404
    rerun = client.get(f"/?from={mine.pk}").content.decode()
    assert 'name="models" value="sim:alpha"' in rerun and "about llamas" in rerun


@pytest.mark.django_db(transaction=True)
def test_compare_command_prints_json_and_shows_in_history(user, sim, sim_models, capsys):
    sim.set("alpha", Scenario(text="Alpha from the terminal"))
    sim.set("claude-sim", Scenario(text="Claude from the terminal"))
    call_command(
        "compare",
        "Hello from a terminal",
        "--model",
        "sim:alpha",
        "--model",
        "sima:claude-sim",
        "--user",
        user.username,
        "--max-tokens",
        "50",
        "--json",
    )
    out = capsys.readouterr().out
    result = json.loads(out)
    assert set(result) == {"id", "url", "runs"}
    assert result["url"].endswith(f"/c/{result['id']}/")
    by_model = {run["model"]: run for run in result["runs"]}
    assert by_model["sim:alpha"]["text"] == "Alpha from the terminal"
    assert by_model["sima:claude-sim"]["status"] == "done"
    from playground.serialization import RUN_FIELDS

    assert all(list(run) == list(RUN_FIELDS) for run in result["runs"])  # as in the exports
    assert by_model["sim:alpha"]["cost_usd"] is not None
    html = logged_in(user).get("/history/").content.decode()
    assert "Hello from a terminal" in html


def test_compare_command_misuse_exits_non_zero(user, sim_models):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown model"):
        call_command("compare", "hi", "--model", "sim:nope", "--user", user.username)
    with pytest.raises(CommandError, match="Write a prompt"):
        call_command("compare", "  ", "--model", "sim:alpha", "--user", user.username)
    assert Comparison.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_compare_command_model_failure_is_not_a_command_failure(user, sim, sim_models, capsys):
    sim.set("alpha", Scenario(fault="auth"))
    call_command("compare", "hi", "--model", "sim:alpha", "--user", user.username, "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["runs"][0]["status"] == "error"
