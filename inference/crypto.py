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


class EncryptedTextField(models.TextField):
    """A text column that holds only ciphertext; Python code sees the plaintext."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
