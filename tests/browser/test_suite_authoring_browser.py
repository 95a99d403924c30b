"""The authoring pages in Chromium: paste a suite, the estimate follows the form (htmx), a
run starts, Run xN from a comparison; a clean console and no CSP violation throughout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from inference.simulator import Simulator
from playground.models import Comparison, Run, Turn
from playground.suites.models import Suite, SuiteRun
from tests.browser.test_compare_browser import log_in
from tests.browser.test_console_browser import settle, watch
from tests.helpers import create_sim_providers

pytestmark = pytest.mark.browser


def test_paste_estimate_start_and_run_n(live_url: str, page: Any, sim: Simulator, db: None) -> None:
    user = get_user_model().objects.create_user("ada", password="pw-ada-123456")
    models = create_sim_providers(sim)
    said = watch(page)
    log_in(page, live_url, "ada", "pw-ada-123456")
    settle(page)  # the compare page's own estimate request, before leaving it

    page.goto(f"{live_url}/suites/new/")
    settle(page)
    page.fill("#id_name", "browser")
    page.fill("#id_text", "First prompt\n{{oops}}\n")
    page.click("#suite-new-form button[type=submit]")
    page.wait_for_selector("text=line 2: no value for {{oops}}")
    settle(page)
    assert not Suite.objects.exists()
    page.fill("#id_text", "First prompt\nSecond prompt\n")
    page.click("#suite-new-form button[type=submit]")
    page.wait_for_selector("text=Saved browser v1: 2 cases, read as one prompt per line.")
    suite = Suite.objects.get()
    settle(page)

    estimate = page.locator("#suite-estimate")
    assert estimate.inner_text() == "Pick models to see the estimate."
    page.check("input[name=models][value='sim:alpha']")
    page.wait_for_selector("#suite-estimate:has-text('2 answers')")
    page.check("input[name=models][value='sim:beta']")
    page.fill("#id_repeats", "3")
    page.wait_for_selector("#suite-estimate:has-text('12 answers')")
    assert re.search(r"at most \$0\.\d+", estimate.inner_text())
    page.fill(f"input[name=max_tokens_{models['alpha'].pk}]", "40")
    page.click("#suite-run-form button[type=submit]")
    page.wait_for_url(re.compile(r"/suites/runs/\d+/$"))
    suite_run = SuiteRun.objects.get()
    settle(page)
    assert suite_run.suite_id == suite.pk and suite_run.units.count() == 12
    assert suite_run.model_specs[0]["max_tokens"] == 40

    comparison = Comparison.objects.create(owner=user, title="Repeat me")
    turn = Turn.objects.create(comparison=comparison, index=0, prompt="Repeat me")
    Run.objects.create(
        comparison=comparison, turn=turn, position=0, model_name="sim:alpha",
        model_label="Alpha", provider_label="Simulated", provider_kind="openai",
        temperature=0.5, max_tokens=30, status=Run.Status.DONE, text="Done.",
    )  # fmt: skip
    page.goto(f"{live_url}/c/{comparison.pk}/")
    settle(page)
    page.click("#run-n-panel > summary")
    page.fill("#run-n input[name=n]", "4")
    page.click("#run-n button[type=submit]")
    page.wait_for_url(re.compile(r"/suites/runs/\d+/$"))
    repeat = SuiteRun.objects.exclude(pk=suite_run.pk).get()
    settle(page)
    assert repeat.repeats == 4 and repeat.units.count() == 4

    page.goto(f"{live_url}/history/")
    settle(page)
    page.check(f"input[name=comparisons][value='{comparison.pk}']")
    page.fill("#save-suite input[name=name]", "from history")
    page.click("#save-suite button[type=submit]")
    page.wait_for_selector("text=Saved from history v1: 1 case from the history.")

    settle(page)
    assert page.evaluate("window.__csp") == []
    assert said == [], said
