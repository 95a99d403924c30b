"""Provider keys: ciphertext at rest, and rotation to a new encryption key."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from pytest_django.fixtures import Settings

from inference import crypto
from inference.models import Provider

SECRET = "sk-test-0123456789-secret-abcd"


def raw_key(provider: Provider) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM inference_provider WHERE id = %s", [provider.pk])
        (value,) = cursor.fetchone()
    return str(value)


def make_provider(slug: str, key: str) -> Provider:
    return Provider.objects.create(slug=slug, label=slug, kind="openai", api_key=key)


@pytest.mark.django_db
def test_only_ciphertext_is_stored() -> None:
    provider = make_provider("acme", SECRET)
    stored = raw_key(provider)
    assert SECRET not in stored and "abcd" not in stored
    assert crypto.decrypt(stored) == SECRET
    assert Provider.objects.get(pk=provider.pk).api_key == SECRET


@pytest.mark.django_db
def test_an_empty_key_stays_empty() -> None:
    provider = make_provider("acme", "")
    assert raw_key(provider) == ""
    assert Provider.objects.get(pk=provider.pk).api_key == ""


@pytest.mark.django_db
def test_rotate_keys_moves_every_key_to_the_newest_encryption_key(
    settings: Settings,
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    first = make_provider("one", SECRET)
    second = make_provider("two", "another-key-9876")
    make_provider("three", "")

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_keys", stdout=out)
    assert "2 keys" in out.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert Provider.objects.get(pk=first.pk).api_key == SECRET
    assert Provider.objects.get(pk=second.pk).api_key == "another-key-9876"
    assert Fernet(new.encode()).decrypt(raw_key(first).encode()).decode() == SECRET


@pytest.mark.django_db
def test_without_the_old_key_a_stored_key_is_unreadable_but_kept(settings: Settings) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    provider = make_provider("acme", SECRET)
    ciphertext = raw_key(provider)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    loaded = Provider.objects.get(pk=provider.pk)  # no exception: only this provider suffers
    assert loaded.key_unreadable and loaded.api_key == "" and SECRET not in repr(loaded.api_key)
    assert loaded.effective_api_key() == ""
    assert loaded.unavailable_reason() == (
        "stored key unreadable: the encryption keys changed; enter it again"
    )
    loaded.label = "Acme renamed"
    loaded.save()  # saving anything else keeps the ciphertext as it was
    assert raw_key(provider) == ciphertext
    out = io.StringIO()
    call_command("rotate_keys", stdout=out)
    assert "1 stored keys cannot be decrypted" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # the old key back: the key is back
    assert Provider.objects.get(pk=provider.pk).api_key == SECRET
