"""The compare page in a real browser, against a real daphne and the simulator."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from inference.simulator import Scenario, Simulator
from playground.models import Run
from tests.browser.conftest import OUTPUT
from tests.helpers import create_sim_providers

pytestmark = pytest.mark.browser

HOSTILE = [
    "Here is **bold** text. ",
    "<scr",
    "ipt>window.__pwned = 'script'</scr",
    "ipt> then an image <img src=x one",
    "rror=\"window.__pwned = 'img'\"> and ",
    "[a link](javascript:window.__pwned='link') and [data](data:text/html,hi). Done.",
]


def log_in(page: Any, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def pick(page: Any, name: str) -> None:
    page.click("#picker > summary")
    page.fill("#model-search", name.split(":")[1])
    page.click(f'#model-list .pick[data-name="{name}"]')
    page.click("#picker > summary")


def panel_texts(page: Any) -> list[str]:
    return page.eval_on_selector_all(".panel .answer", "els => els.map(e => e.textContent)")


def assert_inert(page: Any) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".answer img, .answer script, .reasoning img").count() == 0
    assert page.locator('a[href^="javascript"], a[href^="data"]').count() == 0


def test_compare_in_the_browser(live_url: str, page: Any, sim: Simulator, db: None) -> None:
    get_user_model().objects.create_user("ada", password="pw-ada-123456")
    create_sim_providers(sim)
    long_text = " ".join(f"token{i}" for i in range(400))
    sim.set("alpha", Scenario(chunks=HOSTILE * 6, interval=0.06))
    sim.set(
        "beta",
        Scenario(
            text=" ".join(f"beta{i}" for i in range(40)),
            interval=0.05,
            reasoning="Thinking about it first.",
            ttft=0.1,
        ),
    )
    sim.set("claude-sim", Scenario(text=long_text, interval=0.05))

    log_in(page, live_url, "ada", "pw-ada-123456")
    for name in ["sim:alpha", "sim:beta", "sima:claude-sim"]:
        pick(page, name)
    assert page.locator("#selected .chip").count() == 3
    page.fill("#id_prompt", "Tell me something, safely.")
    page.wait_for_selector("#estimate:has-text('input tokens')")
    page.press("#id_prompt", "Control+Enter")

    # Three panels appear and grow at the same time.
    page.wait_for_selector(".panel >> nth=2")
    grew_together = False
    for _ in range(60):
        texts = panel_texts(page)
        if (
            len(texts) == 3
            and all(len(t) > 20 for t in texts)
            and page.locator(".panel.status-done").count() == 0
        ):
            grew_together = True
            break
        time.sleep(0.1)
    assert grew_together, panel_texts(page)
    assert page.url.endswith("/c/1/") or "/c/" in page.url
    assert_inert(page)

    # The two short ones finish; stop the long one.
    page.wait_for_selector(".panel.status-done >> nth=1", timeout=20_000)
    claude = page.locator('.panel[data-model="sima:claude-sim"]')
    claude.get_by_role("button", name="Stop").click()
    page.wait_for_selector('.panel.status-stopped[data-model="sima:claude-sim"]')
    page.wait_for_selector(".summary svg.bar")
    assert page.locator(".panel .metrics").count() == 3
    assert page.locator(".summary figure.chart").count() >= 3
    assert (
        "thinking" in page.locator('.panel[data-model="sim:beta"] .thinking').inner_text().lower()
    )
    assert_inert(page)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "compare-finished.png"), full_page=True)

    saved = {run.model_name: run for run in Run.objects.all()}
    assert saved["sima:claude-sim"].status == Run.Status.STOPPED
    assert saved["sim:alpha"].status == saved["sim:beta"].status == Run.Status.DONE

    # Reload the comparison from history: the same panels, still inert.
    page.goto(f"{live_url}/history/")
    page.click(".history-table a")
    page.wait_for_selector(".panel >> nth=2")
    assert page.locator(".panel.status-stopped").count() == 1
    assert page.locator(".panel.status-done").count() == 2
    assert page.locator(".summary svg.bar").count() >= 3
    assert (
        "bold" in page.locator('.panel[data-model="sim:alpha"] .answer strong').first.inner_text()
    )
    assert_inert(page)
    assert page.evaluate("window.__csp") == []


def test_delete_works_from_the_board_head_sent_when_the_runs_end(
    live_url: str, page: Any, sim: Simulator, db: None
) -> None:
    """The board head re-sent over the websocket when streaming ends is rendered without a
    request (so without a CSRF token); its Delete… form must still work."""
    from playground.models import Comparison

    get_user_model().objects.create_user("ada", password="pw-ada-123456")
    create_sim_providers(sim)
    sim.set("alpha", Scenario(text="short answer", interval=0.02))
    log_in(page, live_url, "ada", "pw-ada-123456")
    pick(page, "sim:alpha")
    page.fill("#id_prompt", "Say something short.")
    page.press("#id_prompt", "Control+Enter")
    page.wait_for_selector(".panel.status-done")
    page.click(".board-head .delete-confirm > summary")
    page.click(".board-head .delete-form button[type=submit]")
    page.wait_for_url(lambda url: "/c/" not in url)
    assert not Comparison.objects.exists()
    assert page.evaluate("window.__csp") == []
