"""The pass rate counts only cases that have checks: a suite without checks has none, never
a 100% that nothing earned."""

from __future__ import annotations

import pytest
from django.test import Client

from playground.suites import selectors
from playground.suites.models import SuiteUnit
from playground.suites.services import ModelSpec
from tests.suites.runs import answers, create_run, finish

pytestmark = pytest.mark.django_db(transaction=True)

CASES: list[dict[str, object]] = [
    {"prompt": "Say yes", "expect": {"contains": "yes"}},
    {"prompt": "Say anything"},
]


def test_cases_without_checks_are_left_out_of_the_pass_rate(user, sim, sim_models):
    answers(sim)  # alpha answers "alpha says yes ok"; beta fails every time
    suite_run = finish(create_run(user, cases=CASES, repeats=1))
    units = {(u.case.index, u.model_name): u.passed for u in SuiteUnit.objects.all()}
    assert units == {
        (0, "sim:alpha"): True,
        (1, "sim:alpha"): None,  # done, nothing to check
        (0, "sim:beta"): False,  # failed: its check cannot pass
        (1, "sim:beta"): None,
    }
    rates = {a.model: a.pass_rate for a in selectors.model_aggregates(suite_run=suite_run)}
    assert rates == {"sim:alpha": 1.0, "sim:beta": 0.0}


def test_a_suite_without_checks_says_so(user, sim, sim_models):
    answers(sim)
    suite_run = finish(
        create_run(
            user, cases=[{"prompt": "Say anything"}], models=[ModelSpec("sim:alpha")], repeats=1
        )
    )
    [aggregate] = selectors.model_aggregates(suite_run=suite_run)
    assert aggregate.requests == 1 and aggregate.pass_rate is None
    client = Client()
    client.force_login(user)
    html = client.get(f"/suites/runs/{suite_run.pk}/").content.decode()
    assert "no checks" in html and "100%" not in html
