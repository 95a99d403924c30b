"""A suite run's page in a real browser: a real db_worker runs it (the simulator streaming
slowly), the page's progress moves over its socket, a closed tab loses nothing (the run goes
on in the worker, and the reopened page catches up and follows), and at the end the matrix,
the figures and the charts render, with a clean console. It also takes the README's
screenshot, static/docs/suite.png, when PLAYGROUND_SCREENSHOTS=1."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from inference.simulator import Scenario, Simulator
from playground.suites import services
from playground.suites.models import SuiteUnit
from playground.suites.services import ModelSpec
from tests.browser.conftest import OUTPUT, ROOT
from tests.browser.test_compare_browser import log_in
from tests.browser.test_console_browser import watch
from tests.helpers import create_sim_providers
from tests.servers import wait_until
from tests.suites.conftest import DbWorker
from tests.suites.runs import create_run

pytestmark = pytest.mark.browser

# The README's picture is retaken only when asked (PLAYGROUND_SCREENSHOTS=1): a test run
# never rewrites tracked files.
SCREENSHOT = ROOT / "static" / "docs" / "suite.png"
RETAKE_SCREENSHOT = os.environ.get("PLAYGROUND_SCREENSHOTS") == "1"
CAPITALS: list[dict[str, object]] = [
    {"prompt": "Capital of {{country}}? One word.", "vars": {"country": country},
     "expect": {"contains": capital}}
    for country, capital in (("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"))
]  # fmt: skip
JSON_CASE: dict[str, object] = {
    "prompt": "Reply with a JSON object with a key ok.",
    "expect": {"json_schema": {"type": "object", "required": ["ok"]}},
}
CASES = [*CAPITALS, JSON_CASE]
MODELS = [ModelSpec("sim:alpha"), ModelSpec("sim:beta"), ModelSpec("sima:claude-sim")]


def finished_on(page: Any) -> int:
    return int(page.get_attribute("#suite-progress", "data-finished"))


def finished_in_database(suite_run_id: int) -> int:
    return SuiteUnit.objects.filter(
        suite_run_id=suite_run_id, status=SuiteUnit.Status.FINISHED
    ).count()


def slow_answers(sim: Simulator) -> None:
    """About 1-2 s an answer; alpha knows its capitals, beta does not, claude writes JSON."""
    alpha = ["Paris ", "Rome ", "Madrid ", '{"ok": 1}'] + ["."] * 8
    beta = ["I ", "am ", "not ", "sure"] + ["."] * 12
    claude = ['{"ok": ', "true}"] + [" "] * 6
    for model, chunks, ttft, interval in (
        ("alpha", alpha, 0.15, 0.1), ("beta", beta, 0.35, 0.08), ("claude-sim", claude, 0.25, 0.2),
    ):  # fmt: skip
        sim.set(
            model,
            Scenario(chunks=chunks, ttft=ttft, interval=interval, input_tokens=12,
                     output_tokens=len(chunks)),
        )  # fmt: skip


def test_suite_page_follows_the_run_across_a_closed_tab(
    live_url: str, chromium: Any, sim: Simulator, db: None
) -> None:
    user = get_user_model().objects.create_user("ada", password="pw-ada-123456")
    create_sim_providers(sim)
    slow_answers(sim)
    suite_run = create_run(user, models=MODELS, repeats=2, cases=CASES, name="capitals")
    units = suite_run.units.count()
    assert units == 4 * 3 * 2
    services.suite_run_enqueue(suite_run_id=suite_run.pk)
    worker = DbWorker("suite-browser-worker").start()
    try:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        log_in(page, live_url, "ada", "pw-ada-123456")
        page.wait_for_load_state("networkidle")  # the compare page's own requests, done
        said = watch(page)
        page.goto(f"{live_url}/suites/runs/{suite_run.pk}/")
        page.wait_for_selector("#suite-progress")
        first = finished_on(page)
        assert first < units
        # The progress moves with no reload: the socket brings it.
        assert wait_until(lambda: finished_on(page) > first), (finished_on(page), worker.log())
        assert page.locator('.suite-cell[data-status="finished"]').count() >= 1
        assert page.evaluate("window.__csp") == []
        assert said == [], said

        # Close the tab mid-run: the worker goes on; the reopened page shows what it did.
        seen = finished_on(page)
        page.close()
        assert wait_until(lambda: finished_in_database(suite_run.pk) > seen), worker.log()
        page = context.new_page()
        page.set_default_timeout(20_000)
        said = watch(page)
        page.goto(f"{live_url}/suites/runs/{suite_run.pk}/")
        page.wait_for_selector("#suite-progress")
        assert finished_on(page) > seen
        # ... and follows it to the end: the final frame brings the figures and the charts.
        page.wait_for_selector('#suite-results[data-final="true"]', timeout=120_000)
        assert finished_on(page) == units
        assert page.get_attribute("#suite-progress", "data-status") == "done"
        assert page.locator('.suite-cell[data-status="finished"]').count() == units
        assert page.locator("#suite-results svg.strip-plot").count() == 2
        dots = page.locator("#suite-results svg.strip-plot").first.locator("circle.dot").count()
        assert dots == units  # every answer finished, each a dot
        assert page.locator("#suite-cancel button").count() == 0
        assert page.locator(".suite-aggregates tbody tr").count() == 3
        assert page.evaluate("window.__csp") == []
        assert said == [], said

        # The README's picture: the top of the finished page, its figures and charts, and
        # the first row of the matrix.
        page.wait_for_timeout(300)  # let htmx settle the last swap; not a measure
        last = page.locator(".suite-matrix tbody tr").first.bounding_box()
        assert last is not None
        OUTPUT.mkdir(parents=True, exist_ok=True)
        clip = {"x": 0, "y": 0, "width": 1400, "height": last["y"] + last["height"] + 1}
        page.screenshot(path=str(OUTPUT / "suite-finished.png"), full_page=True)
        page.screenshot(path=str(OUTPUT / "suite.png"), clip=clip, full_page=True)
        if RETAKE_SCREENSHOT:
            page.screenshot(path=str(SCREENSHOT), clip=clip, full_page=True)
        context.close()
    finally:
        worker.stop()
