"""Logging out, being deactivated or a new password closes that user's open sockets."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from playground.consumers import user_group


def close_user_sockets(user_id: int) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "session.ended"})


@receiver(user_logged_out)
def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        close_user_sockets(user.pk)


@receiver(post_save, sender=get_user_model())
def on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        close_user_sockets(instance.pk)


def recheck_user_sockets(user_id: int) -> None:
    """Every socket of the user checks its session now (see selectors.session_is_live)."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "session.recheck"})


@receiver(pre_save, sender=get_user_model())
def note_password_change(
    sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any
) -> None:
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    old = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._playground_password_changed = old is not None and old != instance.password


@receiver(post_save, sender=get_user_model())
def on_password_changed(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A new password ends the other sessions' logins: their sockets close at once, not at
    the next periodic recheck (the session that changed it gets a new key and reconnects)."""
    if created or not getattr(instance, "_playground_password_changed", False):
        return
    instance._playground_password_changed = False
    user_id = instance.pk
    transaction.on_commit(lambda: recheck_user_sockets(user_id))
