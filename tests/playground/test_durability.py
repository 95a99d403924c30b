"""Runs survive the server: SIGTERM saves them as stopped, SIGKILL leaves a checkpoint that
a sweeper turns into `interrupted`, and a live process's runs are never swept.

Real daphne processes on the test database, streaming from the upstream simulator; the
simulator stalls each stream after a known number of pieces, so "what the browser had" is
exact and the assertions need no clock.
"""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from inference.simulator import Scenario
from inference.tokens import count_tokens
from playground.models import Run, ServerProcess
from tests.helpers import compare_frame, run_ids
from tests.servers import Daphne, Socket, session_cookie, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PIECES = [f"word{i} " for i in range(40)]
SHOWN = 12  # pieces each model sends before it stalls


def stalling(sim, *names: str) -> None:
    for name in names:
        sim.set(name, Scenario(chunks=PIECES, interval=0.01, fault="stall", fault_after=SHOWN))


def expected_text() -> str:
    return "".join(PIECES[:SHOWN])


async def start_comparison(sock: Socket, models: list[str]) -> dict[str, int]:
    await sock.send(json.loads(compare_frame(models)))
    await sock.read_until(lambda lg: len(run_ids(lg)) == len(models))
    ids = run_ids(sock.log)
    await sock.read_until(lambda lg: all(lg.text.get(i) == expected_text() for i in ids.values()))
    return ids


def runs_by_id(ids: dict[str, int]) -> dict[int, Run]:
    return {run.pk: run for run in Run.objects.filter(pk__in=ids.values())}


def live_runs() -> int:
    return Run.objects.filter(status__in=Run.LIVE_STATUSES).count()


async def retry_and_finish(server: Daphne, cookie: str, run_id: int) -> int:
    async with Socket(server, cookie) as sock:
        await sock.send({"action": "retry", "run": str(run_id)})
        await sock.read_until(lambda lg: any(i != run_id for i in run_ids(lg).values()))
        new_ids = [i for i in run_ids(sock.log).values() if i != run_id]
        await sock.read_until(lambda lg: lg.finished(new_ids[0]))
        return new_ids[0]


def test_sigterm_stops_and_saves_every_run_then_retry_works(user, sim, sim_models, servers):
    stalling(sim, "alpha", "beta")
    server = servers("sigterm")
    cookie = session_cookie(user)

    async def stream_then_signal() -> dict[str, int]:
        async with Socket(server, cookie) as sock:
            ids = await start_comparison(sock, ["sim:alpha", "sim:beta"])
            server.signal(signal.SIGTERM)
            await sock.drain()
            return ids

    ids = asyncio.run(stream_then_signal())
    assert server.wait(timeout=60) == 0, server.log()
    assert sim.wait_for(lambda reqs: all(r.ended is not None for r in reqs), 10)
    runs = runs_by_id(ids)
    for run in runs.values():
        assert run.status == Run.Status.STOPPED, server.log()
        assert run.text == expected_text()  # everything streamed before the signal
        assert run.output_tokens and run.input_tokens and run.tokens_estimated
        assert run.cost is not None and run.cost > 0
        assert run.cost_source == Run.CostSource.ESTIMATED
    assert not ServerProcess.objects.exists()  # retired on the way out
    assert live_runs() == 0

    sim.set("alpha", Scenario(text="Second try."))
    restarted = servers("sigterm-restarted")
    new_id = asyncio.run(retry_and_finish(restarted, cookie, ids["sim:alpha"]))
    retried = Run.objects.get(pk=new_id)
    assert retried.status == Run.Status.DONE and retried.text == "Second try."
    assert Run.objects.get(pk=ids["sim:alpha"]).superseded


def test_sigkill_leaves_a_checkpoint_that_a_restart_marks_interrupted(
    user, sim, sim_models, servers
):
    stalling(sim, "alpha", "claude-sim")
    server = servers("sigkill")
    cookie = session_cookie(user)
    ids: dict[str, int] = {}

    async def stream_then_kill() -> None:
        async with Socket(server, cookie) as sock:
            ids.update(await start_comparison(sock, ["sim:alpha", "sima:claude-sim"]))
            # The checkpoint catches up with what the browser has (the streams stall there).
            for _ in range(600):
                texts = await asyncio.to_thread(
                    lambda: [r.text for r in Run.objects.filter(pk__in=ids.values())]
                )
                if texts == [expected_text()] * 2:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("no checkpoint reached the database")
            server.signal(signal.SIGKILL)
            await sock.drain()

    asyncio.run(stream_then_kill())
    server.wait()
    runs = runs_by_id(ids)
    assert all(run.status == Run.Status.STREAMING for run in runs.values())  # nobody saved

    restarted = servers("sigkill-restarted")
    assert wait_until(lambda: live_runs() == 0), restarted.log()
    for run in runs_by_id(ids).values():
        assert run.status == Run.Status.INTERRUPTED
        assert run.text == expected_text()  # the last checkpoint: all the browser had
        assert run.tokens_estimated and run.output_tokens == count_tokens(expected_text())
        assert run.cost is not None and run.cost > 0
        assert run.cost_source == Run.CostSource.ESTIMATED
    # The comparison goes on: retry works on an interrupted run.
    sim.set("alpha", Scenario(text="Back again."))
    new_id = asyncio.run(retry_and_finish(restarted, cookie, ids["sim:alpha"]))
    assert Run.objects.get(pk=new_id).text == "Back again."


def test_two_processes_one_killed_the_others_live_runs_untouched(user, sim, sim_models, servers):
    stalling(sim, "alpha", "beta")
    first, second = servers("pair-first"), servers("pair-second")
    cookie = session_cookie(user)

    async def scenario() -> tuple[dict[str, int], dict[str, int]]:
        async with Socket(first, cookie) as doomed, Socket(second, cookie) as survivor:
            doomed_ids = await start_comparison(doomed, ["sim:alpha"])
            survivor_ids = await start_comparison(survivor, ["sim:beta"])
            # The doomed run's checkpoint catches up with what the browser has first (the
            # stream stalls there), so that what it keeps can be checked exactly.
            (doomed_id,) = doomed_ids.values()
            checkpointed = await asyncio.to_thread(
                wait_until, lambda: Run.objects.get(pk=doomed_id).text == expected_text()
            )
            assert checkpointed, "no checkpoint reached the database"
            first.signal(signal.SIGKILL)
            await doomed.drain()
            # The survivor's sweeper interrupts the dead process's run ...
            swept = await asyncio.to_thread(
                wait_until,
                lambda: (
                    Run.objects.get(pk=doomed_ids["sim:alpha"]).status == Run.Status.INTERRUPTED
                ),
            )
            assert swept, second.log()
            # ... and, over several more sweeps, never its own.
            assert await asyncio.to_thread(
                lambda: ServerProcess.objects.filter(pid=second.process.pid).exists()
            )
            await asyncio.sleep(3)
            (mine,) = survivor_ids.values()
            status = await asyncio.to_thread(lambda: Run.objects.get(pk=mine).status)
            assert status == Run.Status.STREAMING
            await survivor.send({"action": "stop", "run": str(mine)})
            await survivor.read_until(lambda lg: lg.finished(mine))
            return doomed_ids, survivor_ids

    doomed_ids, survivor_ids = asyncio.run(scenario())
    survivor_run = Run.objects.get(pk=survivor_ids["sim:beta"])
    assert survivor_run.status == Run.Status.STOPPED
    assert survivor_run.text == expected_text()
    assert Run.objects.get(pk=doomed_ids["sim:alpha"]).text == expected_text()
