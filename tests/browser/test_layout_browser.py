"""The compare page's layout in Chromium: every panel's metrics in view once done, balanced
grids that reflow when a panel is hidden, wide tables that scroll instead of breaking words,
errors contained in their panel, and a silent stream that says so."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model

from inference.models import Model, Provider
from inference.simulator import Scenario, Simulator
from tests.browser.conftest import OUTPUT
from tests.browser.test_compare_browser import log_in
from tests.servers import wait_until

pytestmark = pytest.mark.browser

WIDE_TABLE = (
    "| Strategy | Consistency | Typical failure |\n"
    "|---|---|---|\n"
    "| Cache-aside-with-invalidation | Eventually-consistent-after-expiry "
    "| Thundering-herd-on-cold-start |\n"
    "| Write-through-synchronously | Strongly-consistent-on-every-write "
    "| Write-amplification-under-load |\n"
)
LONG_ANSWER = (
    "A long answer, to make one panel much taller than the others.\n\n"
    + WIDE_TABLE
    + "\n"
    + "\n\n".join(f"Paragraph {i}: " + "words to fill the panel " * 12 for i in range(30))
)
SHORT_ANSWER = "A short answer.\n\n" + WIDE_TABLE


def sim_models(sim: Simulator, count: int) -> list[str]:
    """`count` models on one simulated provider (with a long label), the first one long."""
    provider = Provider.objects.create(
        slug="sim",
        label="Simulated provider with a rather long label (offline)",
        kind="openai",
        base_url=sim.openai_base_url,
        key_required=False,
    )
    names = []
    for index in range(count):
        api_name = f"model-{index}"
        Model.objects.create(
            provider=provider,
            api_name=api_name,
            label=f"Model number {index}",
            input_price=Decimal("1.00"),
            output_price=Decimal("2.00"),
        )
        text = LONG_ANSWER if index == 0 else SHORT_ANSWER
        sim.set(api_name, Scenario(text=text, ttft=0.05, interval=0.001))
        names.append(f"sim:{api_name}")
    return names


def run_comparison(page: Any, url: str, names: list[str]) -> None:
    query = urlencode({"models": ",".join(names), "prompt": "Compare caching strategies."})
    page.goto(f"{url}/?{query}")
    assert page.locator("#selected .chip").count() == len(names)
    page.press("#id_prompt", "Control+Enter")
    page.wait_for_selector(f".panel >> nth={len(names) - 1}")
    page.wait_for_function(
        "n => document.querySelectorAll('.panel .metrics').length === n", arg=len(names),
        timeout=60_000,
    )  # fmt: skip
    page.wait_for_selector(".summary svg.bar", timeout=30_000)


VISIBILITY = """() => {
  const composer = document.getElementById('composer').getBoundingClientRect();
  return Array.from(document.querySelectorAll('.panel:not(.is-hidden) .metrics')).map((el) => {
    const r = el.getBoundingClientRect();
    const x = r.left + Math.min(20, r.width / 2), y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    return {
      model: el.closest('.panel').dataset.model,
      inViewport: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth,
      aboveComposer: r.bottom <= composer.top,
      visible: !!hit && el.contains(hit),
    };
  });
}"""


def assert_metrics_all_visible(page: Any) -> None:
    # The panels are fitted on the next animation frame after a change (app.js): wait for it.
    hidden: list[dict[str, Any]] = []

    def all_visible() -> bool:
        nonlocal hidden
        seen = page.evaluate(VISIBILITY)
        hidden = [s for s in seen if not (s["inViewport"] and s["aboveComposer"] and s["visible"])]
        return bool(seen) and not hidden

    assert wait_until(all_visible, timeout=10), hidden


def assert_summary_not_under_composer(page: Any) -> None:
    page.evaluate("document.getElementById('board').scrollTop = 1e6")
    box = page.evaluate(
        """() => {
          const s = document.querySelector('.summary').getBoundingClientRect();
          const c = document.getElementById('composer').getBoundingClientRect();
          return {bottom: s.bottom, composerTop: c.top, height: s.height};
        }"""
    )
    assert box["height"] > 0 and box["bottom"] <= box["composerTop"] + 0.5, box
    page.evaluate("document.getElementById('board').scrollTop = 0")


def assert_tables_scroll_not_break(page: Any) -> None:
    tables = page.eval_on_selector_all(
        ".panel .answer table",
        """els => els.map(t => ({scroll: t.scrollWidth, client: t.clientWidth,
              wrap: getComputedStyle(t.querySelector('td')).overflowWrap}))""",
    )
    assert tables, "no table rendered"
    assert all(t["scroll"] > t["client"] and t["wrap"] == "normal" for t in tables), tables


def test_four_panels_at_1600_by_1000(
    live_url: str, chromium: Any, sim: Simulator, db: None
) -> None:
    get_user_model().objects.create_user("ada", password="pw-ada-123456")
    names = sim_models(sim, 4)
    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_url, "ada", "pw-ada-123456")
    run_comparison(page, live_url, names)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "layout-4-panels.png"))

    assert_metrics_all_visible(page)
    assert_tables_scroll_not_break(page)
    # The long answer scrolls inside its panel; the short ones end where they end.
    long_answer = page.locator(f'.panel[data-model="{names[0]}"] .answer')
    assert long_answer.evaluate("el => el.scrollHeight > el.clientHeight")
    # Long provider badges are shortened, with the whole label as a title.
    badge = page.locator(".panel .badge").first
    assert badge.get_attribute("title") == "Simulated provider with a rather long label (offline)"
    assert page.evaluate(
        """() => Array.from(document.querySelectorAll('.panel')).every(p => {
             const b = p.querySelector('.badge').getBoundingClientRect();
             const t = p.querySelector('.panel-tools').getBoundingClientRect();
             return b.right <= t.left + 0.5 || b.top >= t.bottom - 0.5;
           })"""
    )
    assert_summary_not_under_composer(page)

    # Hiding a panel reflows the others into three balanced columns.
    before = page.locator(f'.panel[data-model="{names[1]}"]').bounding_box()["width"]
    page.locator(f'.panel[data-model="{names[3]}"]').get_by_role("button", name="Hide").click()
    page.wait_for_selector('.panels[data-visible="3"]')
    after = page.locator(f'.panel[data-model="{names[1]}"]').bounding_box()["width"]
    assert after > before * 1.2, (before, after)
    page.get_by_role("button", name="Show Model number 3").click()
    page.wait_for_selector('.panels[data-visible="4"]')

    # Expanding a panel shows its whole answer.
    page.locator(f'.panel[data-model="{names[0]}"]').get_by_role("button", name="Expand").click()
    assert long_answer.evaluate("el => el.scrollHeight <= el.clientHeight + 1")
    context.close()


def test_eight_panels_at_1280_by_800(
    live_url: str, chromium: Any, sim: Simulator, db: None
) -> None:
    get_user_model().objects.create_user("ada", password="pw-ada-123456")
    names = sim_models(sim, 8)
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_url, "ada", "pw-ada-123456")
    run_comparison(page, live_url, names)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "layout-8-panels.png"))

    # Two balanced rows of four.
    tops = page.eval_on_selector_all(
        ".panel", "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
    )
    assert len(set(tops)) == 2 and tops.count(tops[0]) == 4, tops
    assert_metrics_all_visible(page)
    assert_tables_scroll_not_break(page)
    assert_summary_not_under_composer(page)

    # Hiding one of eight: seven shown, balanced as four and three, no empty column.
    page.locator(f'.panel[data-model="{names[7]}"]').get_by_role("button", name="Hide").click()
    page.wait_for_selector('.panels[data-visible="7"]')
    assert_metrics_all_visible(page)
    context.close()


def test_errors_are_contained_and_silence_is_said(
    live_url: str, page: Any, sim: Simulator, db: None
) -> None:
    get_user_model().objects.create_user("ada", password="pw-ada-123456")
    provider = Provider.objects.create(
        slug="sim", label="Simulated", kind="openai", base_url=sim.openai_base_url,
        key_required=False,
    )  # fmt: skip
    for api_name in ("raw-error", "silent"):
        Model.objects.create(provider=provider, api_name=api_name, label=api_name.title())
    payload = '{"error": {"message": "' + ("Something-went-wrong-upstream " * 40) + '"}}'
    sim.set(
        "raw-error",
        Scenario(raw=payload.encode(), raw_status=400, raw_content_type="application/json"),
    )
    sim.set("silent", Scenario(text="One two three four five six.", fault="stall", fault_after=2))

    log_in(page, live_url, "ada", "pw-ada-123456")
    query = urlencode({"models": "sim:raw-error,sim:silent", "prompt": "Go"})
    page.goto(f"{live_url}/?{query}")
    page.press("#id_prompt", "Control+Enter")

    # The error panel: a short headline, the rest behind "details", all inside the panel.
    error_panel = page.locator('.panel[data-model="sim:raw-error"]')
    error_panel.locator(".run-error").wait_for()
    head = error_panel.locator(".run-error-head").inner_text()
    assert len(head) <= 160 and "bad request" in head
    assert error_panel.locator(".run-error details summary").inner_text() == "details"
    contained = error_panel.evaluate(
        """p => {
          const panel = p.getBoundingClientRect();
          return Array.from(p.querySelectorAll('.run-error, .run-error *')).every(e => {
            const r = e.getBoundingClientRect();
            return r.width === 0 || (r.left >= panel.left - 0.5 && r.right <= panel.right + 0.5);
          }) && p.scrollWidth <= p.clientWidth + 1;
        }"""
    )
    assert contained
    error_panel.locator(".run-error details summary").click()
    assert error_panel.evaluate("p => p.scrollWidth <= p.clientWidth + 1")

    # The silent stream says how long it has been silent, then can be stopped.
    silent = page.locator('.panel[data-model="sim:silent"]')
    silent.locator(".panel-stall:has-text('no tokens for')").wait_for(timeout=30_000)
    assert "s…" in silent.locator(".panel-stall").inner_text()
    silent.get_by_role("button", name="Stop").click()
    page.wait_for_selector('.panel.status-stopped[data-model="sim:silent"]')
    assert (
        silent.locator(".panel-stall").count() == 0
        or silent.locator(".panel-stall").inner_text() == ""
    )
    assert page.evaluate("window.__csp") == []
