"""A provider key never leaves the server: not in HTML, frames, errors, logs, exports or pages."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from inference.models import Model, Provider
from inference.simulator import Scenario
from playground.models import Run, Share
from tests.helpers import FrameLog, compare_frame, read_until, run_ids, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-live-SUPERSECRET-0123456789abcdefXYZ"


@pytest.fixture
def leaky(sim):
    provider = Provider.objects.create(
        slug="leaky", label="Leaky", kind="openai", base_url=sim.openai_base_url, api_key=SECRET
    )
    Model.objects.create(provider=provider, api_name="echo", label="Echo")
    sim.set("echo", Scenario(fault="auth", echo_key=True))
    return provider


def raw_key_column() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM inference_provider WHERE slug = %s", ["leaky"])
        return cursor.fetchone()[0]


async def test_key_echoed_by_a_401_never_reaches_anyone(user, sim, leaky, caplog):
    caplog.set_level(logging.DEBUG)
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["leaky:echo"]))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 1)
    run_id = run_ids(log)["leaky:echo"]
    await read_until(communicator, log, lambda lg: lg.finished(run_id))
    await communicator.disconnect()

    # The key was really used, and the provider really echoed it back.
    request = next(r for r in sim.requests if r.model == "echo")
    assert request.headers.get("authorization") == f"Bearer {SECRET}"
    run = await sync_to_async(Run.objects.get)(pk=run_id)
    assert run.status == Run.Status.ERROR and "authentication" in run.error.lower()

    assert not any(SECRET in frame for _, frame in log.frames)
    assert SECRET not in run.error
    assert SECRET not in caplog.text
    assert SECRET[-12:] not in caplog.text
    stored = await sync_to_async(raw_key_column)()
    assert stored and SECRET not in stored and stored.startswith("gAAAA")  # a Fernet token

    def pages() -> list[str]:
        owner = Client()
        owner.force_login(user)
        share = Share.objects.create(comparison=run.comparison, audience="public")
        staff = get_user_model().objects.create_superuser("root", password="pw-root-123456")
        admin = Client()
        admin.force_login(staff)
        urls = [
            "/",
            f"/c/{run.comparison_id}/",
            "/history/",
            f"/c/{run.comparison_id}/export.json",
            f"/c/{run.comparison_id}/export.csv",
            f"/c/{run.comparison_id}/export.md",
        ]
        bodies = [owner.get(url).content.decode() for url in urls]
        bodies += [Client().get(f"/s/{share.token}/").content.decode()]
        bodies += [Client().get(f"/s/{share.token}/export.json").content.decode()]
        bodies += [admin.get(f"/admin/inference/provider/{leaky.pk}/change/").content.decode()]
        bodies += [admin.get("/admin/inference/provider/").content.decode()]
        bodies += [admin.get(f"/admin/playground/run/{run_id}/change/").content.decode()]
        return bodies

    bodies = await sync_to_async(pages)()
    assert all(len(body) > 100 for body in bodies)
    for body in bodies:
        assert SECRET not in body
    assert any(f"…{SECRET[-4:]}" in body for body in bodies[-3:-1])  # shown as its last four
