"""The user a management command acts for."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import CommandError


def command_user(username: str | None) -> AbstractBaseUser:
    """The named user, else the first active admin; a CommandError saying what to do."""
    users = get_user_model().objects
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        return user
    user = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if user is None:
        raise CommandError("No admin user yet: run `make run` once, or pass --user NAME.")
    return user
