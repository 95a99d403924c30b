"""The arena's leaderboard and decision chart in Chromium: the board polls itself from
"computing" to ready, the chart's points link to their evidence, and the console stays
clean (no message, error, CSP violation or failed request)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from playground.arena import services
from playground.arena.tasks import recompute_stale
from playground.models import Run
from tests.arena.board_votes import compare_battle
from tests.browser.conftest import OUTPUT
from tests.browser.test_compare_browser import log_in
from tests.browser.test_console_browser import settle, watch

pytestmark = pytest.mark.browser

# (winner, loser, times); each model's answers with their own time and cost.
RECORD = [("sim:alpha", "sim:beta", 8), ("sim:alpha", "sim:gamma", 6), ("sim:beta", "sim:gamma", 6)]
FIGURES = {
    "sim:alpha": (1800.0, Decimal("0.004")),
    "sim:beta": (600.0, Decimal("0.001")),
    "sim:gamma": (900.0, None),
}


def cast_votes(user: Any) -> None:
    for winner, loser, times in RECORD:
        for i in range(times):
            order = [winner, loser] if i % 2 == 0 else [loser, winner]
            battle = compare_battle(user, order)
            services.vote_cast(
                user=user, battle_id=battle.pk, choice="a" if order[0] == winner else "b"
            )
    for model, (total_ms, cost) in FIGURES.items():
        Run.objects.filter(model_name=model).update(total_ms=total_ms, cost=cost)


def test_the_leaderboard_and_decision_chart_render_cleanly(
    live_url: str, page: Any, settings: Any
) -> None:
    settings.PLAYGROUND_ARENA_BOOTSTRAP_ROUNDS = 20
    user = get_user_model().objects.create_user("ada", password="pw-ada-123456")
    cast_votes(user)
    said = watch(page)
    log_in(page, live_url, "ada", "pw-ada-123456")
    settle(page)

    page.click("nav.topnav >> text=Arena")
    page.wait_for_selector("#board-result[data-state='computing']")
    # The test plays the arena worker; the page's poll swaps the ready board in.
    assert recompute_stale() == 1
    page.wait_for_selector("#board-result[data-state='ready']", timeout=30_000)
    rows = page.locator(".board-table tbody tr")
    assert rows.count() == 3
    assert rows.nth(0).get_attribute("data-model") == "sim:alpha"
    assert page.locator(".board-table svg.interval-bar").count() == 3
    assert page.locator(".heatmap td.heat-10").count() >= 1
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "arena-leaderboard.png"), full_page=True)
    settle(page)

    page.check("#id_style")
    page.click("form.board-filters >> text=Apply")
    page.wait_for_selector("#board-result[data-state='ready']")
    assert "style controlled" in page.inner_text("#board-result")
    settle(page)

    page.click("nav.arena-nav >> text=Decision")
    page.wait_for_selector("#chart-latency")
    assert page.locator("#chart-latency a.point").count() == 3
    assert page.locator("#chart-cost a.point").count() == 2  # gamma has no cost
    # beta (fast, cheap) and alpha (best) are on both fronts.
    assert page.locator("#chart-latency a.point.pareto").count() == 2
    box = page.locator("#chart-latency").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    page.click("#chart-latency a.point[data-model='sim:beta']")
    page.wait_for_url("**#evidence-1")
    assert page.locator("tr#evidence-1").get_attribute("data-model") == "sim:beta"
    page.screenshot(path=str(OUTPUT / "arena-decision.png"), full_page=True)
    settle(page)
    assert said == [], said
    assert page.evaluate("window.__csp") == []
