"""Provider keys at rest: Fernet tokens under a MultiFernet, so keys can be rotated.

settings.FIELD_ENCRYPTION_KEYS lists Fernet keys, newest first. Encryption always uses the
first; decryption tries them all. `manage.py rotate_keys` re-encrypts every stored key under
the newest one, after which old keys can be dropped from the list.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet_for(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = hashlib.sha256(("playground-field-encryption:" + secret_key).encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "PLAYGROUND_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 bytes), "
            "comma separated, newest first."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


UNREADABLE_KEY_REASON = "stored key unreadable: the encryption keys changed; enter it again"


class UnreadableSecret(str):
    """A stored ciphertext that no configured key decrypts (the secret key or the
    encryption keys changed). It reads as empty, so it is never sent anywhere, and saves
    back unchanged, so restoring the old key brings it back; only entering a new key (or
    clearing it) replaces it."""

    ciphertext: str

    def __new__(cls, ciphertext: str) -> UnreadableSecret:
        secret = super().__new__(cls, "")
        secret.ciphertext = ciphertext
        return secret

    def __repr__(self) -> str:
        return "UnreadableSecret()"


def is_unreadable(value: object) -> bool:
    return isinstance(value, UnreadableSecret)


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored provider key cannot be decrypted with PLAYGROUND_ENCRYPTION_KEYS. "
            "Keep the old key in the list until `manage.py rotate_keys` has run."
        ) from exc


def rotate(token: str) -> str:
    """The same secret, encrypted under the newest key."""
    return fernet().rotate(token.encode()).decode()


def last_four(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) > 4 else "…" if secret else ""


class EncryptedTextField(models.TextField[str, str]):
    """A text column that holds only ciphertext; Python code sees the plaintext."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        try:
            return decrypt(value)
        except ImproperlyConfigured:
            # One unreadable key must not take every page down: its owner says why.
            return UnreadableSecret(value)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, UnreadableSecret):
            return value.ciphertext
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
