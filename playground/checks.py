"""Deployment checks of our own, run by `manage.py check --deploy`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def encryption_keys_are_explicit(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.FIELD_ENCRYPTION_KEYS:
        return []
    return [
        Warning(
            "PLAYGROUND_ENCRYPTION_KEYS is not set: provider keys are encrypted with a key "
            "derived from DJANGO_SECRET_KEY, so changing the secret key would lose them.",
            hint="Set PLAYGROUND_ENCRYPTION_KEYS to one or more Fernet keys, newest first.",
            id="playground.W001",
        )
    ]
