"""A blind battle through the page: two models as "Model A" and "Model B", the vote bar once
both are done, a vote, and the reveal, with a clean console throughout."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from inference.simulator import Scenario, Simulator
from playground.arena.models import Battle, Vote
from tests.browser.conftest import OUTPUT
from tests.browser.test_compare_browser import log_in, pick
from tests.browser.test_console_browser import settle, watch
from tests.helpers import create_sim_providers

pytestmark = pytest.mark.browser


def test_blind_battle_vote_and_reveal(live_url: str, page: Any, sim: Simulator, db: None) -> None:
    get_user_model().objects.create_user("ada", password="pw-ada-123456")
    create_sim_providers(sim)
    sim.set("alpha", Scenario(text="A short **answer** from one.", interval=0.01))
    sim.set("beta", Scenario(text="Another answer.", interval=0.01, reasoning="Hmm."))
    said = watch(page)

    log_in(page, live_url, "ada", "pw-ada-123456")
    pick(page, "sim:alpha")
    pick(page, "sim:beta")
    page.click(".battle-settings > summary")
    page.check("#id_blind")
    page.fill("#id_prompt", "Tell me about caching")
    page.press("#id_prompt", "Control+Enter")
    page.wait_for_function("() => document.querySelectorAll('.panel .panel-foot').length === 2")
    labels = page.eval_on_selector_all(".panel .model-label", "els => els.map(e => e.textContent)")
    assert labels == ["Model A", "Model B"]
    board = page.inner_html("#board")
    for secret in ("Alpha", "Beta", "sim:alpha", "sim:beta", "Simulated", "Hmm."):
        assert secret not in board
    page.wait_for_selector("#vote-form button[value=a]")
    settle(page)  # the composer's estimate, sent as the prompt was typed, has come back
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "arena-before-vote.png"))
    page.fill("#vote-form input[name=category]", "caching")
    # Enter in the category field does not vote.
    page.press("#vote-form input[name=category]", "Enter")
    page.wait_for_timeout(200)  # a submission would have started by now; not a measure
    assert Vote.objects.count() == 0
    page.click("#vote-form button[value=a]")
    page.wait_for_selector("#battle-outcome")
    battle = Battle.objects.get()
    a_side = battle.sides.get(position=0)
    assert f"You voted: A ({a_side.model_name})" in page.inner_text("#battle-outcome")
    assert page.locator("#vote-form").count() == 0
    labels = page.eval_on_selector_all(".panel .model-label", "els => els.map(e => e.textContent)")
    assert sorted(labels) == ["Alpha", "Beta"]
    assert page.locator(".panel .badge").count() == 2
    assert page.locator(".panel .metrics dt:has-text('cost')").count() == 2
    page.screenshot(path=str(OUTPUT / "arena-revealed.png"))
    vote = Vote.objects.get()
    assert vote.category == "caching" and vote.choice == "a"
    settle(page)
    assert said == [], said
    assert page.evaluate("window.__csp") == []
