"""A comparison's "Run xN": its first prompt N times on the same panels, as a suite run,
through a real `manage.py db_worker` streaming from the upstream simulator."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from inference.simulator import Scenario
from playground.models import Comparison, Run, Turn, UserQuota
from playground.suites import selectors
from playground.suites.models import Suite, SuiteRun, SuiteUnit
from tests.servers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "Name a {{colour}} fruit."  # braces that are not a template variable


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def two_panel_comparison(owner) -> Comparison:
    """As the compare page saves one: a first turn, a follow-up, and each panel's settings."""
    comparison = Comparison.objects.create(
        owner=owner, title="Fruit", system_prompt="Answer in one word.", same_settings=False
    )
    first = Turn.objects.create(comparison=comparison, index=0, prompt=PROMPT)
    later = Turn.objects.create(comparison=comparison, index=1, prompt="And a vegetable?")
    panels = [("sim:alpha", "Alpha", 0.3, 64), ("sim:beta", "Beta", 1.1, 32)]
    for turn in (first, later):
        for position, (name, label, temperature, max_tokens) in enumerate(panels):
            Run.objects.create(
                comparison=comparison, turn=turn, position=position, model_name=name,
                model_label=label, provider_label="Simulated", provider_kind="openai",
                temperature=temperature, max_tokens=max_tokens, status=Run.Status.DONE,
                text="Banana",
            )  # fmt: skip
    # A retried panel: only the current run counts.
    Run.objects.filter(turn=first, position=1).update(superseded=True)
    Run.objects.create(
        comparison=comparison, turn=first, position=1, attempt=2, model_name="sim:beta",
        model_label="Beta", provider_label="Simulated", provider_kind="openai",
        temperature=1.1, max_tokens=32, status=Run.Status.DONE, text="Lime",
    )  # fmt: skip
    return comparison


def test_run_x3_on_two_panels_makes_six_runs_with_the_same_models_and_params(
    user, sim, sim_models, workers
):
    sim.set("alpha", Scenario(chunks=["Ban", "ana"], input_tokens=10, output_tokens=20))
    sim.set("beta", Scenario(chunks=["Li", "me"], input_tokens=10, output_tokens=40))
    # alpha has batch-API prices (half of its 1 and 4 USD per 1M), beta none.
    sim_models["alpha"].batch_input_price = Decimal("0.5")
    sim_models["alpha"].batch_output_price = Decimal("2")
    sim_models["alpha"].save()
    comparison = two_panel_comparison(user)
    client = logged_in(user)
    page = client.get(f"/c/{comparison.pk}/").content.decode()
    assert f'action="/suites/repeat/{comparison.pk}/"' in page and 'name="n"' in page

    response = client.post(f"/suites/repeat/{comparison.pk}/", {"n": "3"})
    suite_run = SuiteRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/suites/runs/{suite_run.pk}/"
    assert suite_run.suite.name == f"Repeat of comparison {comparison.pk}"
    assert suite_run.repeats == 3
    assert suite_run.model_specs == [
        {"model": "sim:alpha", "temperature": 0.3, "max_tokens": 64},
        {"model": "sim:beta", "temperature": 1.1, "max_tokens": 32},
    ]
    (case,) = suite_run.suite.cases.all()
    assert (case.prompt, case.system) == (PROMPT, "Answer in one word.")

    worker = workers("run-n-worker")
    assert wait_until(lambda: SuiteRun.objects.get().is_final, timeout=120), worker.log()
    suite_run.refresh_from_db()
    assert suite_run.status == SuiteRun.Status.DONE, suite_run.error
    runs = Run.objects.filter(comparison_id=suite_run.comparison_id, superseded=False)
    assert runs.count() == 6 and runs.filter(status=Run.Status.DONE).count() == 6
    by_model = {
        name: sorted(runs.filter(model_name=name).values_list("temperature", "max_tokens"))
        for name in ("sim:alpha", "sim:beta")
    }
    assert by_model == {"sim:alpha": [(0.3, 64)] * 3, "sim:beta": [(1.1, 32)] * 3}
    # What went upstream: the first prompt exactly, the system prompt, each panel's settings.
    assert sim.wait_for(lambda reqs: len([r for r in reqs if r.wire == "openai"]) >= 6, 10)
    sent = [r.body for r in sim.requests if r.wire == "openai"]
    assert len(sent) == 6
    for body in sent:
        assert body["messages"] == [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": PROMPT},
        ]
        settings = (body["model"], body["temperature"], body["max_completion_tokens"])
        assert settings in {("alpha", 0.3, 64), ("beta", 1.1, 32)}
    assert sorted(body["model"] for body in sent) == ["alpha"] * 3 + ["beta"] * 3

    # The per-model figures: batch tier beside the standard one where the snapshot has it.
    alpha, beta = selectors.model_aggregates(suite_run=suite_run, requests_per_day=1000)
    assert alpha.volume.per_day == Decimal("0.09000000")  # (10 x 1 + 20 x 4) / 1M x 1000
    assert alpha.volume.batch_per_day == Decimal("0.04500000")  # (10 x 0.5 + 20 x 2) / 1M
    assert alpha.volume.batch_per_month == Decimal("1.35000000")
    assert alpha.volume.prices["batch_input_per_m"] == "0.500000"
    assert f"price snapshot of run {alpha.volume.prices_from_run}" in alpha.volume.batch_note
    assert beta.volume.per_day is not None
    assert beta.volume.batch_per_day is None and beta.volume.batch_per_month is None
    assert "lists no batch price" in beta.volume.batch_note


def error_of(response) -> str:
    html = response.content.decode()
    found = re.search(r'<p class="notice notice-error" role="alert">([^<]*)</p>', html)
    return found[1].replace("&#x27;", "'") if found else ""


@pytest.mark.parametrize(
    ("n", "message"),
    [("1", "Run it from 2 to 20 times."), ("21", "Run it from 2 to 20 times."),
     ("many", "Run it from 2 to 20 times."), ("", "Run it from 2 to 20 times.")],
)  # fmt: skip
def test_a_bad_n_is_said_beside_the_form_and_nothing_is_saved(user, sim_models, n, message):
    comparison = two_panel_comparison(user)
    response = logged_in(user).post(f"/suites/repeat/{comparison.pk}/", {"n": n})
    assert response.status_code == 200
    assert error_of(response) == message
    assert 'name="n"' in response.content.decode()  # the form again, to fix it
    assert not Suite.objects.exists() and not SuiteRun.objects.exists()


def test_the_spending_limit_refuses_it_and_saves_nothing_not_even_the_suite(user, sim_models):
    UserQuota.objects.create(user=user, daily_spend_limit=Decimal("0.000001"))
    comparison = two_panel_comparison(user)
    response = logged_in(user).post(f"/suites/repeat/{comparison.pk}/", {"n": "5"})
    assert response.status_code == 200
    assert re.search(r"could cost up to \$0\.00\d+ \(10 answers", error_of(response))
    assert not Suite.objects.exists() and not SuiteRun.objects.exists()
    assert not SuiteUnit.objects.exists()
    assert Comparison.objects.count() == 1


def test_only_the_owner_and_not_on_a_suite_runs_own_comparison(user, sim_models):
    comparison = two_panel_comparison(user)
    other = get_user_model().objects.create_user("bob", password="pw-bob-123456")
    assert logged_in(other).post(f"/suites/repeat/{comparison.pk}/", {"n": "3"}).status_code == 404
    assert Client().post(f"/suites/repeat/{comparison.pk}/", {"n": "3"}).status_code == 302
    assert not Suite.objects.exists()

    client = logged_in(user)
    assert client.post(f"/suites/repeat/{comparison.pk}/", {"n": "2"}).status_code == 302
    suite_comparison = SuiteRun.objects.get().comparison
    page = client.get(f"/c/{suite_comparison.pk}/").content.decode()
    assert f'action="/suites/repeat/{suite_comparison.pk}/"' not in page
    refused = client.post(f"/suites/repeat/{suite_comparison.pk}/", {"n": "2"})
    assert refused.status_code == 200
    assert "holds a suite run's answers" in error_of(refused)
    assert SuiteRun.objects.count() == 1


def test_a_blind_battle_is_not_repeated_before_its_vote(user, sim_models):
    from playground.arena.models import Battle

    comparison = two_panel_comparison(user)
    battle = Battle.objects.create(owner=user, comparison=comparison)
    client = logged_in(user)
    refused = client.post(f"/suites/repeat/{comparison.pk}/", {"n": "3"})
    assert error_of(refused) == "This is a blind battle: vote first, then run it again."
    assert not Suite.objects.exists() and not SuiteRun.objects.exists()

    battle.revealed = battle.created
    battle.save()
    assert client.post(f"/suites/repeat/{comparison.pk}/", {"n": "3"}).status_code == 302
    assert SuiteRun.objects.get().repeats == 3
