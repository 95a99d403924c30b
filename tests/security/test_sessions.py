"""Sockets follow the session (hole 5), login throttling (hole 6), and password reset only
with mail configured (hole 11): through the real views, the test client and websockets."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from axes.models import AccessAttempt
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import clear_url_caches

from playground.selectors import session_is_live

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-ada-123456"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def socket_for(client: Client) -> WebsocketCommunicator:
    from playground.asgi import application

    headers = [
        (b"origin", b"http://127.0.0.1:8000"),
        (b"host", b"127.0.0.1:8000"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/compare/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def close_code(communicator: WebsocketCommunicator, timeout: float = 10) -> int | None:
    while True:
        message = await communicator.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return message.get("code")


# --- hole 5: a password change elsewhere ends the other sessions and their sockets ---------


@pytest.mark.django_db(transaction=True)
async def test_a_password_change_closes_an_open_socket(user):
    """Needs the consumer's `session_recheck` handler (signals send session.recheck)."""
    here = await sync_to_async(logged_in)(user)
    elsewhere = await sync_to_async(logged_in)(user)
    communicator = await socket_for(here)
    response = await sync_to_async(elsewhere.post)(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "n3w-Pass-98765",
            "new_password2": "n3w-Pass-98765",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert await close_code(communicator) == 4401
    # The session that changed the password stays logged in (update_session_auth_hash).
    page = await sync_to_async(elsewhere.get)("/")
    assert page.status_code == 200
    # The other one is logged out for pages too.
    assert (await sync_to_async(here.get)("/")).status_code == 302


@pytest.mark.django_db
def test_session_is_live_checks_the_auth_hash(user, settings):
    first, second = logged_in(user), logged_in(user)
    key = first.session.session_key
    assert session_is_live(session_key=key, user_id=user.pk)
    assert not session_is_live(session_key=key, user_id=user.pk + 1)
    user.set_password("an0ther-Pass-4321")
    user.save()
    assert not session_is_live(session_key=key, user_id=user.pk)  # password changed elsewhere
    fresh = logged_in(user)
    assert session_is_live(session_key=fresh.session.session_key, user_id=user.pk)
    fresh.session.flush()
    assert not session_is_live(session_key=fresh.session.session_key, user_id=user.pk)
    other = logged_in(user)
    assert session_is_live(session_key=other.session.session_key, user_id=user.pk)
    other.post("/accounts/logout/")
    assert not session_is_live(session_key=second.session.session_key, user_id=user.pk)
    assert not session_is_live(session_key=other.session.session_key, user_id=user.pk)


@pytest.mark.django_db
def test_a_rotated_secret_key_keeps_sessions_through_its_fallbacks(user, settings):
    client = logged_in(user)
    key = client.session.session_key
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old]
    assert session_is_live(session_key=key, user_id=user.pk)
    settings.SECRET_KEY_FALLBACKS = []
    assert not session_is_live(session_key=key, user_id=user.pk)


@pytest.mark.django_db
def test_the_admins_password_change_keeps_the_staff_session(user):
    admin = get_user_model().objects.create_superuser("root", password="r00t-Pass-1234")
    client = logged_in(admin)
    response = client.post(
        f"/admin/auth/user/{admin.pk}/password/",
        {"password1": "n3w-R00t-9876", "password2": "n3w-R00t-9876"},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# --- hole 6: password guessing is throttled -------------------------------------------------


def try_login(client: Client, password: str):
    return client.post("/accounts/login/", {"username": "ada", "password": password})


@pytest.mark.django_db
def test_the_25th_wrong_password_locks_the_account_for_the_cool_off(user):
    client = Client()
    for attempt in range(1, 25):
        response = try_login(client, f"wrong-{attempt}")
        assert response.status_code == 200, attempt  # the form again, not locked yet
        assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content
    locked = try_login(client, "wrong-25")
    assert locked.status_code == 429
    assert b"this account is locked for 15 minutes" in locked.content
    assert b"ask an admin to unlock" in locked.content
    right = try_login(client, PASSWORD)
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # After the cool-off the right password works again.
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    right = try_login(client, PASSWORD)
    assert right.status_code == 302 and client.session.get("_auth_user_id") == str(user.pk)


@pytest.mark.django_db
def test_forty_wrong_passwords_then_the_right_one_does_not_log_in(user):
    client = Client()
    for attempt in range(40):
        try_login(client, f"guess-{attempt}")
    response = try_login(client, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_an_admin_unlocks_a_locked_account(user):
    client = Client()
    for attempt in range(25):
        try_login(client, f"wrong-{attempt}")
    assert try_login(client, PASSWORD).status_code == 429
    admin = logged_in(get_user_model().objects.create_superuser("root", password="r00t-Pass-1"))
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and b"ada" in listing.content
    attempt = AccessAttempt.objects.get(username="ada")
    deleted = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert try_login(client, PASSWORD).status_code == 302


# --- hole 11: password reset only when mail is configured ----------------------------------


@pytest.fixture
def reload_urls():
    import playground.urls

    def reload() -> None:
        importlib.reload(playground.urls)
        clear_url_caches()

    yield reload
    reload()  # back to the configuration of the run


@pytest.mark.django_db
def test_password_reset_is_not_mounted_without_mail(user, settings, reload_urls):
    settings.PASSWORD_RESET_ENABLED = False
    reload_urls()
    client = Client()
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.post("/accounts/password_reset/", {"email": "a@example.com"}).status_code == 404
    assert b"Forgotten your password" not in client.get("/accounts/login/").content
    assert client.get("/accounts/login/").status_code == 200


@pytest.mark.django_db
def test_password_reset_is_mounted_with_mail(user, settings, reload_urls):
    settings.PASSWORD_RESET_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    reload_urls()
    user.email = "ada@example.com"
    user.save()
    client = Client()
    assert b"Forgotten your password" in client.get("/accounts/login/").content
    response = client.post("/accounts/password_reset/", {"email": "ada@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "ada@example.com" in mail.outbox[0].to


def test_email_url_configures_mail():
    code = (
        "import json, playground.settings as s; print(json.dumps([s.PASSWORD_RESET_ENABLED, "
        "s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS]))"
    )
    env = {**os.environ, "DJANGO_DEBUG": "1", "EMAIL_URL": "smtp+tls://me%40x.org:p%2Fw@mail.x.org"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [True, "mail.x.org", 587, "me@x.org", "p/w", True]
    env.pop("EMAIL_URL")
    code = "import playground.settings as s; print(s.PASSWORD_RESET_ENABLED)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
