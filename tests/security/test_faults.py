"""Faults against the simulator: each one stays in its own panel, and no work is lost."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError

from inference.models import Provider
from inference.simulator import Scenario
from playground import services, streaming
from playground.models import Comparison, Run, UserQuota
from tests.helpers import FrameLog, compare_frame, read_until, run_ids, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = " ".join(f"w{i}" for i in range(30))


async def run_comparison(user, models, timeout=20.0):
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(models))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == len(models))
    ids = run_ids(log)
    await read_until(
        communicator, log, lambda lg: all(lg.finished(i) for i in ids.values()), timeout
    )
    await communicator.disconnect()
    runs = [run async for run in Run.objects.filter(pk__in=ids.values())]
    return {run.model_name: run for run in runs}, log


@pytest.mark.parametrize("fault", ["rate_limit", "overloaded", "unavailable"])
async def test_retried_before_the_first_byte_then_succeeds(user, sim, sim_models, fault):
    sim.set("alpha", Scenario(text=TEXT, fault=fault, fault_count=1, retry_after=1.0))
    sim.set("beta", Scenario(text=TEXT))
    runs, _ = await run_comparison(user, ["sim:alpha", "sim:beta"])
    alpha = runs["sim:alpha"]
    assert alpha.status == Run.Status.DONE and alpha.text == TEXT
    attempts = [r for r in sim.requests if r.model == "alpha"]
    assert len(attempts) == 2
    assert attempts[1].started - attempts[0].started >= 1.0  # retry-after honoured
    # The refused attempt and its backoff are reported apart, not in time to first token.
    assert alpha.retries == 1 and alpha.retry_wait_ms is not None
    assert alpha.retry_wait_ms >= 1000
    assert alpha.ttft_ms is not None and alpha.ttft_ms < alpha.retry_wait_ms
    assert runs["sim:beta"].status == Run.Status.DONE


@pytest.mark.parametrize("fault", ["rate_limit", "overloaded", "unavailable"])
async def test_retries_are_capped_then_only_that_panel_fails(user, sim, sim_models, fault):
    sim.set("alpha", Scenario(fault=fault, fault_count=-1, retry_after=0.1))
    sim.set("beta", Scenario(text=TEXT))
    runs, log = await run_comparison(user, ["sim:alpha", "sim:beta"])
    assert len([r for r in sim.requests if r.model == "alpha"]) == 3  # one try, two retries
    assert runs["sim:alpha"].status == Run.Status.ERROR and runs["sim:alpha"].error
    assert runs["sim:beta"].status == Run.Status.DONE and runs["sim:beta"].text == TEXT
    assert log.contains("state-error")


@pytest.mark.parametrize("fault", ["error_event", "drop"])
async def test_failure_after_the_first_token_keeps_partial_text(user, sim, sim_models, fault):
    sim.set("alpha", Scenario(text=TEXT, interval=0.01, fault=fault, fault_after=8))
    sim.set("beta", Scenario(text=TEXT, interval=0.01))
    runs, _ = await run_comparison(user, ["sim:alpha", "sim:beta"])
    alpha = runs["sim:alpha"]
    assert len([r for r in sim.requests if r.model == "alpha"]) == 1  # never retried
    assert alpha.status == Run.Status.ERROR and alpha.error
    assert alpha.text and TEXT.startswith(alpha.text) and alpha.text != TEXT
    assert alpha.output_tokens and alpha.tokens_estimated
    assert runs["sim:beta"].status == Run.Status.DONE


async def test_a_stalled_upstream_times_out_in_its_panel_only(user, sim, sim_models):
    await sync_to_async(Provider.objects.filter(slug="sim").update)(read_timeout=0.5)
    sim.set("alpha", Scenario(text=TEXT, interval=0.01, fault="stall", fault_after=5))
    sim.set("claude-sim", Scenario(text=TEXT, interval=0.02))
    runs, log = await run_comparison(user, ["sim:alpha", "sima:claude-sim"])
    alpha = runs["sim:alpha"]
    assert alpha.status == Run.Status.ERROR
    assert "no data for 0.5 s" in alpha.error
    assert alpha.text and TEXT.startswith(alpha.text)
    assert runs["sima:claude-sim"].status == Run.Status.DONE
    assert log.contains("no data for 0.5 s")
    assert sim.wait_for(lambda reqs: all(r.ended for r in reqs if r.model == "alpha"), 30)


async def test_a_client_that_stops_reading_is_bounded_then_closed(user, sim, sim_models, settings):
    settings.PLAYGROUND = {"ack_window_frames": 6, "slow_client_seconds": 0.5}
    sim.set("alpha", Scenario(chunks=["x" * 50] * 2000, interval=0.002))
    sim.set("beta", Scenario(text=TEXT, interval=0.01))
    stuck, connected, _ = await ws_connect(user)
    assert connected
    await stuck.send_to(text_data=compare_frame(["sim:alpha"]))
    # A well-behaved client on another socket, acknowledging as the page does.
    polite, _, _ = await ws_connect(user)
    polite_log = FrameLog()
    await polite.send_to(text_data=compare_frame(["sim:beta"]))
    received = 0
    closed_code = None
    while closed_code is None:
        message = await stuck.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            closed_code = message.get("code")
        else:
            received += 1
    assert closed_code == 4008
    assert received <= 6 + 2  # the window, plus the final panel of the stopped run at most
    await read_until(polite, polite_log, lambda lg: len(run_ids(lg)) == 1)
    while not polite_log.finished(run_ids(polite_log)["sim:beta"]):
        polite_log.add(await polite.receive_from(timeout=5))
        if len(polite_log.frames) % 8 == 0:
            await polite.send_to(
                text_data=json.dumps({"action": "ack", "frames": len(polite_log.frames)})
            )
    await polite.disconnect()
    assert sim.wait_for(lambda reqs: any(r.model == "alpha" and r.disconnected for r in reqs), 30)
    runs = [run async for run in Run.objects.order_by("pk")]
    assert runs[0].status == Run.Status.STOPPED and runs[0].text
    assert runs[1].status == Run.Status.DONE


async def test_database_down_at_finish_is_retried(user, sim, sim_models, settings, monkeypatch):
    settings.PLAYGROUND = {"save_retry_seconds": 0.01}
    real = services.run_finish
    failures = {"left": 2}

    def flaky(**kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("connection refused")
        return real(**kwargs)

    monkeypatch.setattr(streaming, "run_finish", flaky)
    sim.set("alpha", Scenario(text=TEXT))
    runs, _ = await run_comparison(user, ["sim:alpha"])
    assert runs["sim:alpha"].status == Run.Status.DONE and runs["sim:alpha"].text == TEXT
    assert failures["left"] == 0


async def test_database_gone_at_finish_tells_the_user(
    user, sim, sim_models, settings, monkeypatch, caplog
):
    settings.PLAYGROUND = {"save_retry_seconds": 0.01, "save_attempts": 3}

    def down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(streaming, "run_finish", down)
    sim.set("alpha", Scenario(text=TEXT))
    communicator, _, _ = await ws_connect(user)
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(communicator, log, lambda lg: lg.contains("could not be saved"))
    await communicator.disconnect()
    assert "could not be saved after 3 attempts" in caplog.text
    assert log.final_text and TEXT in log.final_text.values()  # the answer is still shown


async def test_daily_spending_limit(user, sim, sim_models):
    await sync_to_async(UserQuota.objects.create)(user=user, daily_spend_limit=Decimal("0.0001"))
    communicator, _, _ = await ws_connect(user)
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha"], max_tokens="5000"))
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    await communicator.disconnect()
    notice = log.notices()[0]
    assert "Daily spending limit" in notice and "$0.00 a day" in notice
    assert "spent $0.0000 today" in notice
    assert await sync_to_async(Comparison.objects.count)() == 0


async def test_comparisons_per_minute(user, sim, sim_models):
    await sync_to_async(UserQuota.objects.create)(user=user, comparisons_per_minute=1)
    sim.set("alpha", Scenario(text="one"))
    await run_comparison(user, ["sim:alpha"])
    communicator, _, _ = await ws_connect(user)
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    await communicator.disconnect()
    assert "at most 1 comparisons a minute" in log.notices()[0]
    assert await sync_to_async(Comparison.objects.count)() == 1
