"""Sessions and sockets: logging out or being deactivated ends the user's sockets; the admin
is for staff; every page carries a Content-Security-Policy."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from playground.models import Comparison, Share, Turn
from tests.helpers import FrameLog, compare_frame, read_until, ws_connect


async def closed_with(communicator, code: int) -> bool:
    while True:
        message = await communicator.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            return message.get("code") == code


@pytest.mark.django_db(transaction=True)
async def test_logout_closes_the_users_open_sockets(user, other_user):
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    from channels.testing import WebsocketCommunicator

    from playground.asgi import application

    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    mine = WebsocketCommunicator(
        application, "/ws/compare/", headers=[*headers, (b"cookie", cookie)]
    )
    assert (await mine.connect())[0]
    theirs, connected, _ = await ws_connect(other_user)
    assert connected
    await sync_to_async(client.post)("/accounts/logout/")
    assert await closed_with(mine, 4401)
    assert await theirs.receive_nothing(timeout=0.3)  # the other user's socket is untouched
    await theirs.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_deactivated_user_is_disconnected(user):
    communicator, connected, _ = await ws_connect(user)
    assert connected
    user.is_active = False
    await sync_to_async(user.save)()
    assert await closed_with(communicator, 4401)


@pytest.mark.django_db(transaction=True)
async def test_ended_session_refuses_the_next_message(user, sim_models):
    communicator, connected, _ = await ws_connect(user)
    assert connected
    await sync_to_async(Session.objects.all().delete)()  # e.g. expired and cleared
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    assert "session has ended" in log.notices()[0]
    assert await closed_with(communicator, 4401)
    assert await sync_to_async(Comparison.objects.count)() == 0


@pytest.mark.django_db
def test_admin_is_for_staff_only(user):
    client = Client()
    client.force_login(user)
    for url in [
        "/admin/",
        "/admin/inference/provider/",
        "/admin/inference/model/",
        "/admin/playground/comparison/",
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    staff = get_user_model().objects.create_user("staffer", password="pw-123456", is_staff=True)
    client.force_login(staff)  # staff without permissions sees no provider or price editing
    assert client.get("/admin/inference/provider/").status_code == 403


@pytest.mark.django_db
def test_every_page_sends_csp_and_referrer_policy(user):
    comparison = Comparison.objects.create(owner=user, title="t")
    Turn.objects.create(comparison=comparison, index=0, prompt="t")
    share = Share.objects.create(comparison=comparison, audience="public")
    client = Client()
    pages = [
        client.get("/accounts/login/"),
        client.get(f"/s/{share.token}/"),
        client.get("/admin/login/"),
    ]
    client.force_login(user)
    pages += [client.get(url) for url in ["/", "/history/", f"/c/{comparison.pk}/"]]
    for response in pages:
        assert response.status_code == 200
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
        html = response.content.decode()
        assert "<script>" not in html and " style=" not in html and "onclick=" not in html
    compare = pages[3].content.decode()
    assert '"allowEval": false' in compare


@pytest.mark.django_db(transaction=True)
async def test_frames_for_other_users_ids_are_refused(user, other_user, sim_models):
    communicator, _, _ = await ws_connect(user)
    log = FrameLog()
    for payload in [
        {"action": "retry", "run": "999999"},
        {"action": "stop", "run": "1"},
        {"action": "compare", "prompt": "x", "comparison": "424242"},
    ]:
        await communicator.send_to(text_data=json.dumps(payload))
    await read_until(communicator, log, lambda lg: len(lg.notices()) == 3)
    await communicator.disconnect()
    assert await sync_to_async(Comparison.objects.count)() == 0
