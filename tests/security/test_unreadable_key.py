"""A changed secret key leaves pages up (hole 12): a stored key that cannot be decrypted
makes only its own provider unavailable, on the compare page, the admin, the estimate and
the websocket."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from inference.crypto import UNREADABLE_KEY_REASON
from inference.models import Model, Provider
from inference.simulator import Scenario
from playground.models import Run
from tests.helpers import FrameLog, compare_frame, read_until, run_ids, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

OLD_SECRET = "the-secret-key-before-the-restart-" + "a" * 30
NEW_SECRET = "another-secret-key-after-the-restart-" + "b" * 30


@pytest.fixture
def restarted_with_another_secret_key(settings, sim, sim_models):
    """A key stored under one DJANGO_SECRET_KEY (no PLAYGROUND_ENCRYPTION_KEYS), then the
    server restarted with another."""
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.SECRET_KEY = OLD_SECRET
    provider = Provider.objects.create(
        slug="locked",
        label="Locked",
        kind="openai",
        base_url=sim.openai_base_url,
        api_key="sk-stored-under-the-old-secret-1234",
    )
    Model.objects.create(provider=provider, api_name="alpha", label="Locked Alpha")
    settings.SECRET_KEY = NEW_SECRET
    return provider


def pages(user, provider: Provider) -> dict[str, tuple[int, str]]:
    client = Client()
    client.force_login(user)
    staff = Client()
    staff.force_login(get_user_model().objects.create_superuser("root", password="pw-r00t-1"))
    answers = {
        "compare": client.get("/"),
        "deep link": client.get("/?models=locked:alpha,sim:alpha"),
        "estimate": client.post(
            "/estimate/", {"prompt": "Hello", "models": ["locked:alpha", "sim:alpha"]}
        ),
        "history": client.get("/history/"),
        "admin providers": staff.get("/admin/inference/provider/"),
        "admin provider": staff.get(f"/admin/inference/provider/{provider.pk}/change/"),
        "admin models": staff.get("/admin/inference/model/"),
    }
    return {name: (r.status_code, r.content.decode()) for name, r in answers.items()}


async def test_a_changed_secret_key_leaves_pages_up(user, restarted_with_another_secret_key):
    answers = await sync_to_async(pages)(user, restarted_with_another_secret_key)
    for name, (status, _) in answers.items():
        assert status == 200, name
    assert UNREADABLE_KEY_REASON in answers["compare"][1]  # the model is greyed with why
    assert UNREADABLE_KEY_REASON in answers["estimate"][1]
    assert UNREADABLE_KEY_REASON in answers["admin provider"][1]
    assert "enter it again" in answers["admin providers"][1]


async def test_the_websocket_refuses_only_that_provider(
    user, sim, restarted_with_another_secret_key
):
    sim.set("alpha", Scenario(text="still here"))
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["locked:alpha", "sim:alpha"]))
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    assert UNREADABLE_KEY_REASON in log.notices()[0]
    assert not any(r.model == "alpha" for r in sim.requests)  # nothing went out for it
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))  # the rest works
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 1)
    run_id = run_ids(log)["sim:alpha"]
    await read_until(communicator, log, lambda lg: lg.finished(run_id))
    await communicator.disconnect()
    run = await sync_to_async(Run.objects.get)(pk=run_id)
    assert run.status == Run.Status.DONE and run.text == "still here"


async def test_entering_the_key_again_makes_it_usable(user, restarted_with_another_secret_key):
    provider = restarted_with_another_secret_key

    def enter_again() -> Provider:
        staff = Client()
        staff.force_login(get_user_model().objects.create_superuser("root", password="pw-r00t-1"))
        response = staff.post(
            f"/admin/inference/provider/{provider.pk}/change/",
            {
                "label": "Locked",
                "slug": "locked",
                "kind": "openai",
                "enabled": "on",
                "base_url": provider.base_url,
                "default_base_url": "",
                "read_timeout": "300",
                "api_key": "sk-entered-again-5678",
            },
        )
        assert response.status_code == 302, response.content[:2000]
        return Provider.objects.get(pk=provider.pk)

    fresh = await sync_to_async(enter_again)()
    assert not fresh.key_unreadable and fresh.api_key == "sk-entered-again-5678"
    assert fresh.unavailable_reason() == ""
