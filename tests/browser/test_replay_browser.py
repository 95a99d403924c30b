"""A shared comparison replays at the pace it streamed: the faster model finishes first."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from playground.models import Comparison, Run, Share, Turn

pytestmark = pytest.mark.browser

FAST = "The fast model answers quickly and is done. " * 3
SLOW = "The slow model takes its time, word by word, to the end. " * 3


def timeline(text: str, step_ms: float, start_ms: float) -> list[list[float]]:
    points: list[list[float]] = []
    length = 0
    while length < len(text):
        length = min(len(text), length + 12)
        points.append([start_ms + len(points) * step_ms, length, 0])
    return points


def test_replay_of_a_shared_comparison(live_url: str, page: Any, db: None) -> None:
    owner = get_user_model().objects.create_user("ada", password="pw-ada-123456")
    comparison = Comparison.objects.create(owner=owner, title="Replay me")
    turn = Turn.objects.create(comparison=comparison, index=0, prompt="Replay me")
    for position, (name, text, step) in enumerate(
        [("sim:fast", FAST, 40), ("sim:slow", SLOW, 160)]
    ):
        Run.objects.create(
            comparison=comparison,
            turn=turn,
            position=position,
            model_name=name,
            model_label=name,
            provider_label="Sim",
            provider_kind="openai",
            status=Run.Status.DONE,
            text=text,
            ttft_ms=100,
            total_ms=100 + step * 20,
            timeline=timeline(text, step, 100),
        )
    share = Share.objects.create(comparison=comparison, audience=Share.Audience.PUBLIC)

    page.goto(f"{live_url}/s/{share.token}/")
    page.click("[data-replay]")
    samples = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lengths = page.eval_on_selector_all(
            ".panel .answer", "els => els.map(e => e.textContent.length)"
        )
        samples.append(lengths)
        if page.locator(".panel.replaying").count() == 0 and len(samples) > 3:
            break
        time.sleep(0.05)
    fast, slow = [s[0] for s in samples], [s[1] for s in samples]
    # Both grew from empty, the fast one reached its end while the slow one was partway.
    assert fast[0] < len(FAST) and slow[0] < len(SLOW)
    assert any(f >= len(FAST.strip()) - 1 and 0 < s < len(SLOW) - 20 for f, s in samples)
    assert page.locator(".panel .answer p").count() == 2  # rendered Markdown is back
    assert page.evaluate("window.__csp") == []
