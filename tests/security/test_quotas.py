"""Limits that hold under concurrency (issue 13, holes 1-3): parallel sockets and threads
against the daily spending limit, the per-minute pace and the live-run cap; retries and
follow-ups count like comparisons."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from inference.catalog import resolve_models
from inference.simulator import Scenario
from playground import services
from playground.forms import CompareForm, payload_to_data
from playground.models import Comparison, QuotaStart, Run, RunCharge, UserQuota
from tests.helpers import FrameLog, compare_frame, read_until, run_ids, until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = " ".join(f"w{i}" for i in range(12))
MAX_TOKENS = 1000


def one_estimate(model: str = "sim:alpha", prompt: str = "Hello there") -> Decimal:
    """The most one single-panel comparison of `model` can cost (what it reserves)."""
    resolved = resolve_models([model])[0]
    request = services.chat_request(
        model=resolved,
        system="",
        history=(),
        prompt=prompt,
        temperature=None,
        max_tokens=MAX_TOKENS,
    )
    estimate = services._estimated_cost(panels=[(resolved, request)])
    assert estimate is not None and estimate > 0
    return estimate


async def open_sockets(user, count: int):
    sockets = []
    for _ in range(count):
        communicator, connected, _ = await ws_connect(user)
        assert connected
        sockets.append(communicator)
    return sockets


async def send_all_at_once(sockets, frame: str) -> list[FrameLog]:
    """The same frame on every socket at once, then each socket's answer: its panels
    (started) or a notice (refused)."""
    await asyncio.gather(*(s.send_to(text_data=frame) for s in sockets))
    logs = [FrameLog() for _ in sockets]

    def answered(log: FrameLog) -> bool:
        return bool(run_ids(log)) or bool(log.notices())

    await asyncio.gather(
        *(read_until(s, log, answered, timeout=30) for s, log in zip(sockets, logs, strict=True))
    )
    return logs


async def finish_all(sockets, logs) -> None:
    for communicator, log in zip(sockets, logs, strict=True):
        ids = list(run_ids(log).values())
        if ids:

            def finished(lg: FrameLog, ids: list[int] = ids) -> bool:
                return all(lg.finished(i) for i in ids)

            await read_until(communicator, log, finished, 30)
        await communicator.disconnect()


async def test_parallel_sockets_cannot_overspend_the_daily_limit(user, sim, sim_models):
    """8 sockets send the same comparison at once: in-flight runs count at their most."""
    # Fixed usage, well under the reservation (input 10 + output 12 tokens).
    sim.set("alpha", Scenario(text=SLOW, interval=0.05, input_tokens=10, output_tokens=12))
    estimate = await sync_to_async(one_estimate)()
    limit = (estimate * Decimal("2.5")).quantize(Decimal("0.0001"))  # room for two
    await sync_to_async(UserQuota.objects.create)(user=user, daily_spend_limit=limit)
    sockets = await open_sockets(user, 8)
    logs = await send_all_at_once(sockets, compare_frame(["sim:alpha"], max_tokens=str(MAX_TOKENS)))
    started = [log for log in logs if run_ids(log)]
    refused = [log for log in logs if not run_ids(log)]
    await finish_all(sockets, logs)

    assert len(started) == 2, [log.notices() for log in logs]
    assert all("Daily spending limit" in log.notices()[0] for log in refused)
    runs = [run async for run in Run.objects.all()]
    assert len(runs) == 2 and all(run.status == Run.Status.DONE for run in runs)
    spent = sum((run.cost or Decimal(0) for run in runs), Decimal(0))
    assert spent <= limit + estimate
    # The reservations became the real costs.
    charges = [c async for c in RunCharge.objects.all()]
    assert Counter(c.cost for c in charges) == Counter(run.cost for run in runs)
    assert all(c.settled for c in charges)


async def test_parallel_sockets_against_one_a_minute_start_exactly_one(user, sim, sim_models):
    """10 sockets at once, a pace of 1 a minute: one starts; the refused ones' upstream
    requests (sent before the rows are written) are cancelled."""
    sim.set("alpha", Scenario(text=SLOW, interval=0.05))
    await sync_to_async(UserQuota.objects.create)(user=user, comparisons_per_minute=1)
    sockets = await open_sockets(user, 10)
    logs = await send_all_at_once(sockets, compare_frame(["sim:alpha"]))
    started = [log for log in logs if run_ids(log)]
    await finish_all(sockets, logs)

    assert len(started) == 1
    assert all(
        "at most 1 comparisons a minute" in log.notices()[0] for log in logs if not run_ids(log)
    )
    assert await sync_to_async(Comparison.objects.count)() == 1
    assert await sync_to_async(QuotaStart.objects.count)() == 1
    # Every upstream request that went out for a refused start was closed, not left running.
    assert await until(lambda: all(r.ended is not None for r in sim.requests), 10), (
        "an upstream request of a refused start was left running"
    )
    assert sum(1 for r in sim.requests if r.completed) <= 1 + sum(
        1 for r in sim.requests if not r.disconnected
    )
    refused_requests = [r for r in sim.requests if r.disconnected]
    assert len(refused_requests) == len(sim.requests) - 1


async def test_plan_save_refusal_cancels_the_started_upstream_streams(user, sim, sim_models):
    """A start refused in plan_save (after its requests went out) stops them at once."""
    sim.set("alpha", Scenario(text=SLOW * 5, interval=0.05))
    sim.set("beta", Scenario(text=SLOW * 5, interval=0.05))
    await sync_to_async(UserQuota.objects.create)(user=user, comparisons_per_minute=1)
    await sync_to_async(QuotaStart.objects.create)(user=user)  # the pace is already used

    from playground import quotas

    real_reserve = quotas.reserve

    def reserve_once_the_requests_are_out(**kwargs):
        # As when another socket takes the last slot between this start's check and save.
        deadline = time.monotonic() + 10
        while len(sim.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        return real_reserve(**kwargs)

    quotas.precheck, real_precheck = (lambda **kwargs: None), quotas.precheck
    quotas.reserve = reserve_once_the_requests_are_out
    try:
        communicator, connected, _ = await ws_connect(user)
        assert connected
        log = FrameLog()
        await communicator.send_to(text_data=compare_frame(["sim:alpha", "sim:beta"]))
        await read_until(communicator, log, lambda lg: bool(lg.notices()), 15)
    finally:
        quotas.precheck, quotas.reserve = real_precheck, real_reserve
    assert "comparisons a minute" in log.notices()[0]
    assert len(sim.requests) == 2  # they really were sent before the refusal
    assert await until(lambda: all(r.disconnected and r.ended for r in sim.requests), 10)
    assert not any(r.completed for r in sim.requests)
    assert await sync_to_async(Run.objects.count)() == 0
    await communicator.disconnect()


async def test_retries_are_refused_past_the_pace(user, sim, sim_models):
    sim.set("alpha", Scenario(text="one two"))
    await sync_to_async(UserQuota.objects.create)(user=user, comparisons_per_minute=2)
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 1)
    first = run_ids(log)["sim:alpha"]
    await read_until(communicator, log, lambda lg: lg.finished(first))

    async def retry(run_id: int) -> FrameLog:
        answer = FrameLog()
        await communicator.send_to(text_data=json.dumps({"action": "retry", "run": run_id}))
        await read_until(
            communicator,
            answer,
            lambda lg: bool(lg.notices()) or any('id="run-' in f for _, f in lg.frames),
        )
        return answer

    second = await retry(first)  # the second start of the minute: allowed
    assert not second.notices()
    new_id = await sync_to_async(
        lambda: Run.objects.get(superseded=False, model_name="sim:alpha").pk
    )()
    await read_until(communicator, second, lambda lg: lg.finished(new_id))
    third = await retry(new_id)  # the third: refused like a comparison would be
    assert third.notices() and "at most 2 comparisons a minute" in third.notices()[0]
    await communicator.disconnect()
    assert await sync_to_async(Run.objects.count)() == 2
    assert await sync_to_async(QuotaStart.objects.count)() == 2
    assert len([r for r in sim.requests if r.model == "alpha"]) <= 3


async def test_live_runs_are_capped_per_user_across_sockets(user, sim, sim_models, settings):
    settings.PLAYGROUND = {**settings.PLAYGROUND, "max_live_runs_per_user": 2}
    sim.set("alpha", Scenario(text=SLOW * 10, interval=0.05))
    sim.set("beta", Scenario(text=SLOW * 10, interval=0.05))
    first, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await first.send_to(text_data=compare_frame(["sim:alpha", "sim:beta"]))
    await read_until(first, log, lambda lg: len(run_ids(lg)) == 2)
    second, connected, _ = await ws_connect(user)
    assert connected
    other = FrameLog()
    await second.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(second, other, lambda lg: bool(lg.notices()))
    assert "Too many answers streaming at once" in other.notices()[0]
    assert "limit is 2" in other.notices()[0]
    await first.send_to(text_data=json.dumps({"action": "stop_all"}))
    ids = list(run_ids(log).values())
    await read_until(first, log, lambda lg: all(lg.finished(i) for i in ids), 15)
    third = FrameLog()  # stopped runs no longer count
    await second.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(second, third, lambda lg: bool(run_ids(lg)) or bool(lg.notices()))
    assert run_ids(third), third.notices()
    await first.disconnect()
    await second.disconnect()


def test_parallel_threads_take_the_pace_one_at_a_time(user, sim_models):
    """Real concurrency on the database: 8 threads, each with its own connection, prepare
    and save a start at the same moment against a pace of 3 a minute."""
    UserQuota.objects.create(user=user, comparisons_per_minute=3)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def start() -> None:
        try:
            form = CompareForm(
                payload_to_data({"prompt": "Hi", "models": ["sim:alpha"], "same_settings": "on"})
            )
            assert form.is_valid(), form.errors
            plan = services.comparison_prepare(user=user, request=form.compare_request())
            barrier.wait(timeout=30)
            try:
                services.plan_save(plan=plan)
                result = "saved"
            except services.ComparisonRefused as exc:
                result = f"refused: {exc}"
        except Exception as exc:  # reported below
            result = f"error: {exc!r}"
        finally:
            connection.close()  # this thread's own connection
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 8, outcomes
    assert outcomes.count("saved") == 3, outcomes
    assert all("comparisons a minute" in o for o in outcomes if o != "saved"), outcomes
    assert Comparison.objects.count() == 3 and QuotaStart.objects.count() == 3


def test_parallel_threads_reserve_the_daily_limit(user, sim_models):
    estimate = one_estimate()
    limit = (estimate * Decimal("3.5")).quantize(Decimal("0.0001"))
    UserQuota.objects.create(user=user, daily_spend_limit=limit)
    barrier = threading.Barrier(8)
    saved: list[bool] = []
    lock = threading.Lock()

    def start() -> None:
        ok = False
        try:
            form = CompareForm(
                payload_to_data(
                    {
                        "prompt": "Hello there",
                        "models": ["sim:alpha"],
                        "same_settings": "on",
                        "max_tokens": str(MAX_TOKENS),
                    }
                )
            )
            assert form.is_valid(), form.errors
            plan = services.comparison_prepare(user=user, request=form.compare_request())
            barrier.wait(timeout=30)
            services.plan_save(plan=plan)
            ok = True
        except services.ComparisonRefused:
            pass
        finally:
            connection.close()  # this thread's own connection
        with lock:
            saved.append(ok)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(saved) == 8
    assert saved.count(True) == 3  # 3 reservations fit in 3.5, whatever the interleaving
    reserved = sum((c.reserved or Decimal(0) for c in RunCharge.objects.all()), Decimal(0))
    assert reserved <= limit
