"""Honest numbers: who is best, what totals leave out, one word for a missing figure, runs
that were not billed, and retries shown apart. Real rows, real pages."""

from __future__ import annotations

import html as htmllib
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from playground.models import Comparison, Run, Turn
from playground.templatetags.playground_tags import MISSING

pytestmark = pytest.mark.django_db

FIGURE = re.compile(r'<figure class="chart">\s*<figcaption>(.*?) <span.*?</figure>', re.S)
ROW = re.compile(
    r'<div class="bar-row(?P<best> best)?(?: bar-(?P<status>\w+))?">\s*'
    r'<span class="bar-label">(?P<label>.*?)</span>.*?'
    r'<span class="bar-value">(?P<value>.*?)(?: <span class="best-mark">best</span>)?</span>',
    re.S,
)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make(owner, runs: list[dict[str, Any]], title: str = "t") -> Comparison:
    comparison = Comparison.objects.create(owner=owner, title=title)
    turn = Turn.objects.create(comparison=comparison, index=0, prompt=title)
    for position, fields in enumerate(runs):
        label = fields.pop("label")
        Run.objects.create(
            comparison=comparison,
            turn=turn,
            position=position,
            model_name=f"sim:{label.lower()}",
            model_label=label,
            provider_label="Sim",
            provider_kind="openai",
            **{"status": Run.Status.DONE, "text": f"{label} says hi", **fields},
        )
    return comparison


def charts(page: str) -> dict[str, dict[str, dict[str, Any]]]:
    """chart title -> model label -> {value, best, status}, from the page's summary."""
    (summary,) = re.findall(r'<section class="summary".*?</section>', page, re.S)
    found = {}
    for match in FIGURE.finditer(summary):
        rows = {
            row["label"]: {
                "value": htmllib.unescape(row["value"]).strip(),
                "best": bool(row["best"]),
                "status": row["status"] or "",
            }
            for row in ROW.finditer(match.group(0))
        }
        found[match.group(1)] = rows
    return found


def summary_head(page: str) -> str:
    (head,) = re.findall(r"<h3>Summary (.*?)</h3>", page, re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", "", head)).strip()


def done(label: str, ttft: float, speed: float, total: float, cost: str | None) -> dict:
    return {
        "label": label,
        "ttft_ms": ttft,
        "tokens_per_s": speed,
        "total_ms": total,
        "input_tokens": 10,
        "output_tokens": 20,
        "cost": None if cost is None else Decimal(cost),
        "cost_source": Run.CostSource.UNKNOWN if cost is None else Run.CostSource.PROVIDER,
    }


def test_only_finished_runs_compete_and_the_others_are_marked(user):
    comparison = make(
        user,
        [
            done("Slow", 900.0, 40.0, 3000.0, "0.00030"),
            done("Fast", 300.0, 80.0, 1000.0, "0.00050"),
            # A truncated stream: fastest to its first token and in decode, but failed.
            {
                **done("Broken", 50.0, 500.0, 200.0, "0.00001"),
                "status": Run.Status.ERROR,
                "cost_source": Run.CostSource.ESTIMATED,
                "error": "The stream ended early.",
            },
            # A 401: failed before its first token, not billed; it would be "cheapest".
            {
                "label": "Refused",
                "status": Run.Status.ERROR,
                "total_ms": 20.0,
                "cost": Decimal(0),
                "cost_source": Run.CostSource.NOT_BILLED,
                "error": "The provider refused the key.",
            },
            {**done("Halted", 100.0, 90.0, 400.0, "0.00002"), "status": Run.Status.STOPPED},
            {**done("Lost", 120.0, 95.0, 500.0, "0.00003"), "status": Run.Status.INTERRUPTED},
        ],
    )
    page = logged_in(user).get(f"/c/{comparison.pk}/").content.decode()
    found = charts(page)
    assert set(found) == {"Time to first token", "Decode speed", "Total time", "Cost"}
    best = {title: [m for m, row in rows.items() if row["best"]] for title, rows in found.items()}
    assert best == {
        "Time to first token": ["Fast"],
        "Decode speed": ["Fast"],
        "Total time": ["Fast"],
        "Cost": ["Slow"],
    }
    for rows in found.values():
        assert set(rows) == {"Slow", "Fast", "Broken", "Refused", "Halted", "Lost"}
        assert rows["Broken"]["status"] == "error" and rows["Refused"]["status"] == "error"
        assert rows["Halted"]["status"] == "stopped" and rows["Lost"]["status"] == "interrupted"
        assert rows["Fast"]["status"] == rows["Slow"]["status"] == ""
    ttft = found["Time to first token"]
    assert ttft["Broken"]["value"] == "50 ms · error"
    assert ttft["Refused"]["value"] == "error"  # no figure: the row says what happened
    assert ttft["Halted"]["value"] == "100 ms · stopped"
    assert ttft["Lost"]["value"] == "120 ms · interrupted"
    assert found["Cost"]["Refused"]["value"] == "not billed · error"
    assert found["Cost"]["Broken"]["value"] == "~$0.00001 · error"
    assert summary_head(page).endswith("· 2 error · 1 stopped · 1 interrupted")


def test_ties_are_all_best(user):
    comparison = make(
        user,
        [
            done("One", 300.0, 50.0, 1000.0, "0.00010"),
            done("Two", 300.0, 50.0, 1000.0, "0.00010"),
            # Differs below what is shown ("300 ms", "50.0 tok/s", "1.00 s"): a tie too.
            done("Three", 300.4, 49.98, 1002.0, "0.00010"),
            done("Four", 700.0, 20.0, 2000.0, "0.00020"),
        ],
    )
    found = charts(logged_in(user).get(f"/c/{comparison.pk}/").content.decode())
    for title, rows in found.items():
        assert [m for m, row in rows.items() if row["best"]] == ["One", "Two", "Three"], title


def test_no_best_without_two_finished_runs_to_compare(user):
    comparison = make(
        user,
        [
            done("Alone", 300.0, 50.0, 1000.0, "0.00010"),
            {**done("Failed", 100.0, 90.0, 200.0, "0.00001"), "status": Run.Status.ERROR},
        ],
    )
    page = logged_in(user).get(f"/c/{comparison.pk}/").content.decode()
    assert not any(row["best"] for rows in charts(page).values() for row in rows.values())
    assert 'class="best-mark"' not in page


def test_a_turn_that_only_failed_still_has_its_summary(user):
    refused = {
        "status": Run.Status.ERROR,
        "cost": Decimal(0),
        "cost_source": Run.CostSource.NOT_BILLED,
        "error": "401",
    }
    comparison = make(user, [{"label": "A", **refused}, {"label": "B", **refused}])
    page = logged_in(user).get(f"/c/{comparison.pk}/").content.decode()
    assert summary_head(page) == "2 models · $0 in all · 2 error"
    assert charts(page)["Cost"] == {
        "A": {"value": "not billed · error", "best": False, "status": "error"},
        "B": {"value": "not billed · error", "best": False, "status": "error"},
    }


def test_totals_say_what_they_leave_out(user):
    comparison = make(
        user,
        [
            done("Priced", 300.0, 50.0, 1000.0, "0.00020"),
            done("Cheap", 300.0, 50.0, 1000.0, "0.00033"),
            done("Unpriced", 300.0, 50.0, 1000.0, None),
        ],
        title="mixed prices",
    )
    all_unknown = make(
        user, [done("X", 1.0, 1.0, 1.0, None), done("Y", 1.0, 1.0, 1.0, None)], title="none"
    )
    client = logged_in(user)
    page = client.get(f"/c/{comparison.pk}/").content.decode()
    assert summary_head(page) == "3 models · $0.00053 + 1 unknown in all"
    assert charts(page)["Cost"]["Unpriced"] == {"value": MISSING, "best": False, "status": ""}
    other = client.get(f"/c/{all_unknown.pk}/").content.decode()
    assert summary_head(other) == "2 models · cost unknown"

    history = client.get("/history/").content.decode()
    cells = re.findall(r'<td class="num">(.*?)</td>', history)
    assert cells == ["unknown", "$0.00053 + 1 unknown"]  # newest first


def metrics(page: str, run: Run) -> dict[str, str]:
    (panel,) = re.findall(rf'id="run-{run.pk}" data-position.*?</article>', page, re.S)
    (foot,) = re.findall(r'<dl class="metrics">(.*?)</dl>', panel, re.S)
    pairs = re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", foot, re.S)
    return {dt: htmllib.unescape(re.sub(r"<[^>]+>", "", dd)) for dt, dd in pairs}


def test_one_word_for_a_missing_figure(user):
    comparison = make(user, [{"label": "Nothing", "status": Run.Status.STOPPED}])
    page = logged_in(user).get(f"/c/{comparison.pk}/").content.decode()
    shown = metrics(page, comparison.runs.get())
    assert shown == {
        "TTFT": MISSING,
        "speed": MISSING,
        "total": MISSING,
        "tokens": f"{MISSING} in · {MISSING} out",
        "cost": MISSING,
    }
    assert MISSING == "unknown"
    (summary,) = re.findall(r'<section class="summary".*?</section>', page, re.S)
    assert "—" not in summary and "—" not in "".join(shown.values())


def test_not_billed_and_retries_in_the_panel(user):
    comparison = make(
        user,
        [
            {
                "label": "Refused",
                "status": Run.Status.ERROR,
                "error": "Rate limited after retries.",
                "cost": Decimal(0),
                "cost_source": Run.CostSource.NOT_BILLED,
                "retries": 2,
                "retry_wait_ms": 1450.0,
            },
            {**done("Retried", 300.0, 50.0, 900.0, "0.0001"), "retries": 1, "retry_wait_ms": 600.0},
            done("Plain", 300.0, 50.0, 900.0, "0.0001"),
        ],
    )
    refused, retried, plain = comparison.runs.order_by("position")
    page = logged_in(user).get(f"/c/{comparison.pk}/").content.decode()
    assert metrics(page, refused)["cost"] == "not billed"
    assert metrics(page, refused)["retries"] == "retried 2×, +1.4 s"
    assert metrics(page, retried)["retries"] == "retried 1×, +0.6 s"
    assert metrics(page, retried)["cost"] == "$0.0001"
    assert "retries" not in metrics(page, plain)


@pytest.mark.django_db(transaction=True)
async def test_the_live_summary_follows_the_same_rules(user, sim, sim_models):
    """Through the websocket: a model refused before its first token (401) and one cut off
    midway are in the summary, marked "error", never best; the total says what it leaves out."""
    from inference.simulator import Scenario
    from tests.helpers import FrameLog, compare_frame, read_until, run_ids, ws_connect

    words = " ".join(f"w{i}" for i in range(30))
    sim.set("alpha", Scenario(text=words))
    sim.set("beta", Scenario(fault="auth", fault_count=-1))
    sim.set("claude-sim", Scenario(text=words, fault="truncate", fault_after=5))
    sim.set("gamma", Scenario(text=words))  # no price
    names = ["sim:alpha", "sim:beta", "sima:claude-sim", "sim:gamma"]
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(names))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == len(names))
    await read_until(communicator, log, lambda lg: lg.contains("<h3>Summary"), timeout=15)
    await communicator.disconnect()
    (frame,) = [f for _, f in log.frames if "<h3>Summary" in f]
    found = charts(frame)
    for rows in found.values():
        assert rows["Beta"]["status"] == "error" and not rows["Beta"]["best"]
        assert rows["Claude Sim"]["status"] == "error" and not rows["Claude Sim"]["best"]
    assert found["Cost"]["Beta"]["value"] == "not billed · error"
    assert found["Cost"]["Gamma"]["value"] == MISSING
    assert "+ 1 unknown in all" in summary_head(frame) and "· 2 error" in summary_head(frame)
