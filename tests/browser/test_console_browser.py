"""A clean console: no message, no uncaught error, no CSP violation and no failed request on
the compare, history, comparison and share pages, typing, comparing and replaying."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from inference.simulator import Scenario, Simulator
from playground.models import Comparison, Share
from tests.browser.test_compare_browser import log_in, pick
from tests.helpers import create_sim_providers

pytestmark = pytest.mark.browser


def watch(page: Any) -> list[str]:
    """Everything the page says on its console, throws, or fails to load."""
    said: list[str] = []
    page.on("console", lambda message: said.append(f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: said.append(f"uncaught: {error}"))
    page.on(
        "response",
        lambda response: (
            said.append(f"HTTP {response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.on("requestfailed", lambda request: said.append(f"failed: {request.url}"))
    return said


def settle(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # let late events (favicon, htmx settles) arrive; not a measure


def test_no_console_noise_on_any_page(live_url: str, page: Any, sim: Simulator, db: None) -> None:
    get_user_model().objects.create_user("ada", password="pw-ada-123456")
    create_sim_providers(sim)
    sim.set("alpha", Scenario(text="A short **answer**.", interval=0.01))
    sim.set("beta", Scenario(text="Another answer.", interval=0.01, reasoning="Hmm."))
    said = watch(page)

    log_in(page, live_url, "ada", "pw-ada-123456")
    settle(page)
    assert page.evaluate("document.querySelector('link[rel=icon]') !== null")
    pick(page, "sim:alpha")
    pick(page, "sim:beta")
    # Typing fast: estimate requests overlap, and none may be aborted with an error.
    for word in ["Tell", " me", " about", " caching", " please"]:
        page.type("#id_prompt", word, delay=30)
        page.wait_for_timeout(120)
    page.wait_for_selector("#estimate:has-text('input tokens')")
    page.press("#id_prompt", "Control+Enter")
    page.wait_for_selector(".panel >> nth=1")
    page.wait_for_function("() => document.querySelectorAll('.panel .metrics').length === 2")
    page.wait_for_selector(".summary svg.bar")
    settle(page)
    assert said == [], said
    assert page.evaluate("window.__csp") == []

    page.goto(f"{live_url}/history/")
    settle(page)
    assert page.evaluate("window.__csp") == []
    page.click(".history-table a")
    page.wait_for_selector(".panel >> nth=1")
    settle(page)
    assert page.evaluate("window.__csp") == []

    comparison = Comparison.objects.get()
    share = Share.objects.create(comparison=comparison, audience=Share.Audience.PUBLIC)
    page.goto(f"{live_url}/s/{share.token}/")
    page.wait_for_selector(".panel >> nth=1")
    page.click("[data-replay]")
    page.wait_for_function("() => document.querySelectorAll('.panel.replaying').length === 0")
    settle(page)
    assert page.evaluate("window.__csp") == []
    assert said == [], said
