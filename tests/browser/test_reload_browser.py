"""A reload mid-stream reattaches: the panels go on from where they were. A closed tab
stops its upstream requests once the grace period has passed. Real browser, real daphne."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from inference.simulator import Scenario, Simulator
from playground.models import Run
from tests.browser.test_compare_browser import log_in, panel_texts, pick
from tests.helpers import create_sim_providers
from tests.servers import wait_until

pytestmark = pytest.mark.browser

GRACE = 4.0
ALPHA = [f"alpha{i} " for i in range(90)]
BETA = [f"beta{i} " for i in range(70)]


@pytest.fixture
def reattach_grace(monkeypatch: pytest.MonkeyPatch) -> float:
    """The server of this test keeps runs of a closed socket for GRACE seconds."""
    monkeypatch.setenv("PLAYGROUND_REATTACH_GRACE_SECONDS", str(GRACE))
    return GRACE


def wait_for(condition: Any) -> bool:
    return wait_until(condition, timeout=30, step=0.05)


def test_reload_mid_stream_goes_on_and_a_closed_tab_stops_after_the_grace(
    reattach_grace: float, live_url: str, chromium: Any, sim: Simulator, db: None
) -> None:
    get_user_model().objects.create_user("ada", password="pw-ada-123456")
    create_sim_providers(sim)
    sim.set("alpha", Scenario(chunks=ALPHA, interval=0.05))
    sim.set("beta", Scenario(chunks=BETA, interval=0.06))
    context = chromium.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_url, "ada", "pw-ada-123456")
    pick(page, "sim:alpha")
    pick(page, "sim:beta")
    page.fill("#id_prompt", "Count for me.")
    page.press("#id_prompt", "Control+Enter")
    page.wait_for_selector(".panel >> nth=1")
    assert wait_for(lambda: all(len(t) > 40 for t in panel_texts(page))), panel_texts(page)

    # Reload while both stream: the page comes back on the comparison and goes on.
    page.reload()
    page.wait_for_selector(".panel >> nth=1")
    page.wait_for_selector(".panel.status-done >> nth=1", timeout=30_000)
    finals = {
        model: page.locator(f'.panel[data-model="{model}"] textarea.raw').input_value()
        for model in ("sim:alpha", "sim:beta")
    }
    assert finals == {"sim:alpha": "".join(ALPHA), "sim:beta": "".join(BETA)}
    assert len(sim.requests) == 2  # the same upstream requests went on: nothing restarted
    assert set(Run.objects.values_list("status", flat=True)) == {Run.Status.DONE}
    assert page.locator(".panel .metrics").count() == 2

    # A follow-up, then close the tab mid-stream: the upstream request ends after the grace.
    sim.set("alpha", Scenario(chunks=ALPHA * 20, interval=0.05))
    sim.set("beta", Scenario(chunks=BETA * 20, interval=0.05))
    page.fill("#id_prompt", "And again, longer.")
    page.press("#id_prompt", "Control+Enter")
    assert wait_for(lambda: len(sim.requests) == 4 and page.locator(".turn").count() == 2), (
        page.locator("#notice").inner_text(),
        len(sim.requests),
        page.locator(".turn").count(),
    )
    assert page.locator(".turn").count() == 2  # the first turn stayed on the live page
    assert wait_for(lambda: all(len(t) > 20 for t in panel_texts(page)[2:]))
    page.close()
    closed_at = time.monotonic()
    assert sim.wait_for(lambda reqs: all(r.ended is not None for r in reqs), 60)
    ended = [r.ended for r in sim.requests[2:] if r.ended is not None]
    assert all(r.disconnected for r in sim.requests[2:])
    assert min(ended) - closed_at >= GRACE - 0.5  # they were kept for a reattach first
    assert wait_for(lambda: Run.objects.filter(status=Run.Status.STOPPED).count() == 2)
    context.close()
