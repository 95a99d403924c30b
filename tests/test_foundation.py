"""The foundation: settings from the environment, the database and the channel layer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-with-enough-entropy-1234567890",
    "DJANGO_ALLOWED_HOSTS": "playground.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://playground.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_HSTS_SECONDS": "31536000",
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_HSTS_PRELOAD": "1",
    "DJANGO_BEHIND_PROXY": "1",
    "PLAYGROUND_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_debug_off_without_secret_key_refuses_to_start():
    result = manage("check", env={"DJANGO_DEBUG": "0"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_check_deploy_passes_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_wants_explicit_encryption_keys():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "PLAYGROUND_ENCRYPTION_KEYS"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "PLAYGROUND_ENCRYPTION_KEYS" in result.stdout + result.stderr


@pytest.mark.django_db
def test_database_vendor_follows_database_url():
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"
    assert connection.vendor == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


async def test_channel_layer_round_trip():
    # A layer of its own: the process's shared one may hold locks bound to an earlier test's
    # event loop (channels_redis keeps one receive lock for all process-local channels).
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    expected = "RedisChannelLayer" if os.environ.get("REDIS_URL") else "InMemoryChannelLayer"
    assert type(layer).__name__ == expected
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello", "text": "round trip"})
    assert await layer.receive(channel) == {"type": "hello", "text": "round trip"}
    await layer.group_add("test-group", channel)
    await layer.group_send("test-group", {"type": "group.hello"})
    assert (await layer.receive(channel))["type"] == "group.hello"
    await layer.group_discard("test-group", channel)


def test_daphne_serves_asgi_first():
    assert settings.INSTALLED_APPS[0] == "daphne"
    assert settings.ASGI_APPLICATION == "playground.asgi.application"


@pytest.mark.django_db
def test_ensure_admin_creates_one_account_once(capsys):
    from django.contrib.auth import get_user_model

    call_command("ensure_admin")
    first = capsys.readouterr().out
    assert "admin" in first and "Log in" in first
    call_command("ensure_admin")
    assert capsys.readouterr().out == ""
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
