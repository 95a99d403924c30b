"""What a run costs when it fails: nothing when refused before its first token, its
estimated tokens when it broke after. Real consumer, real HTTP to the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inference.simulator import Scenario
from playground.models import Run
from tests.helpers import FrameLog, compare_frame, read_until, run_ids, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


async def finished_runs(user, models: list[str]) -> dict[str, Run]:
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(models))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == len(models))
    ids = run_ids(log)
    await read_until(communicator, log, lambda lg: all(lg.finished(i) for i in ids.values()), 30)
    await communicator.disconnect()
    runs = [run async for run in Run.objects.filter(pk__in=ids.values())]
    return {run.model_name: run for run in runs}


@pytest.mark.parametrize("fault", ["auth", "rate_limit"])
async def test_refused_before_the_first_token_is_not_billed(user, sim, sim_models, fault):
    # rate_limit on every attempt: refused after its retries, like a 401 at once.
    sim.set("alpha", Scenario(fault=fault, fault_count=-1))
    runs = await finished_runs(user, ["sim:alpha"])
    run = runs["sim:alpha"]
    assert run.status == Run.Status.ERROR
    assert run.cost == Decimal(0) and run.cost_source == Run.CostSource.NOT_BILLED
    assert run.input_tokens == 0 and run.output_tokens == 0 and not run.tokens_estimated


async def test_broken_after_the_first_token_keeps_its_estimated_cost(user, sim, sim_models):
    sim.set("alpha", Scenario(text="one two three four five six", fault="truncate", fault_after=3))
    runs = await finished_runs(user, ["sim:alpha"])
    run = runs["sim:alpha"]
    assert run.status == Run.Status.ERROR and run.text
    assert run.cost is not None and run.cost > 0
    assert run.cost_source == Run.CostSource.ESTIMATED and run.tokens_estimated
