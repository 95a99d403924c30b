"""A local model in a websocket comparison, next to a simulated hosted model."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from inference.models import Model, Provider
from inference.simulator import Scenario
from playground.models import Run
from tests.helpers import (
    FrameLog,
    compare_frame,
    create_sim_providers,
    read_until,
    run_ids,
    ws_connect,
)

pytestmark = [pytest.mark.local, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def local_model(tiny_model) -> Model:
    provider = Provider.objects.create(
        slug="local", label="Local GPU", kind="local", key_required=False
    )
    return Model.objects.create(
        provider=provider,
        api_name="tiny",
        label="Tiny local",
        options={"path": str(tiny_model.path), "device": "cpu"},
        gpu_hour_price=Decimal("3.60"),
    )


async def test_local_and_hosted_side_by_side(sim, local_model):
    user = await sync_to_async(get_user_model().objects.create_user)("ada", password="pw-123456")
    await sync_to_async(create_sim_providers)(sim)
    sim.set("alpha", Scenario(text="hosted answer", interval=0.01))
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(
        text_data=compare_frame(["local:tiny", "sim:alpha"], max_tokens="24")
    )
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 2)
    ids = run_ids(log)
    await read_until(communicator, log, lambda lg: all(lg.finished(i) for i in ids.values()), 60)
    await communicator.disconnect()
    local_run = await sync_to_async(Run.objects.get)(pk=ids["local:tiny"])
    hosted = await sync_to_async(Run.objects.get)(pk=ids["sim:alpha"])
    assert hosted.status == local_run.status == Run.Status.DONE
    assert local_run.output_tokens == 24 and not local_run.tokens_estimated
    assert local_run.gpu_seconds and local_run.gpu_seconds > 0
    assert local_run.cost_source == Run.CostSource.GPU_TIME
    expected = Decimal(str(local_run.gpu_seconds)) * Decimal("3.60") / 3600
    assert local_run.cost is not None and abs(local_run.cost - expected) < Decimal("0.00000002")
    assert local_run.text and log.final_text[ids["local:tiny"]] == local_run.text


async def test_stopped_local_run_keeps_exact_counts(sim, local_model):
    user = await sync_to_async(get_user_model().objects.create_user)("ada", password="pw-123456")
    communicator, _, _ = await ws_connect(user)
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["local:tiny"], max_tokens="900"))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 1)
    run_id = run_ids(log)["local:tiny"]
    await read_until(communicator, log, lambda lg: len(lg.text.get(run_id, "")) > 5, 60)
    await communicator.send_to(text_data=json.dumps({"action": "stop", "run": str(run_id)}))
    await read_until(communicator, log, lambda lg: lg.finished(run_id), 30)
    await communicator.disconnect()
    run = await sync_to_async(Run.objects.get)(pk=run_id)
    assert run.status == Run.Status.STOPPED
    assert run.output_tokens is not None and 0 < run.output_tokens < 900
    assert not run.tokens_estimated
    assert run.cost is not None and run.cost_source == Run.CostSource.GPU_TIME
