"""Reads: what a page or a socket shows. Writes live in services."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.utils.crypto import constant_time_compare

from playground import fragments
from playground.models import Comparison, Run, Turn


def session_is_live(*, session_key: str | None, user_id: int) -> bool:
    """The socket's login still holds, as Django's `get_user` would judge it on a request.

    The session exists and is unexpired, names this user and an enabled backend, the user
    is active, and the session's auth hash matches the user's password hash (or one made
    with a SECRET_KEY_FALLBACKS key): a password change elsewhere, a logout or a flush ends
    the login, and so the socket.
    """
    if not session_key:
        return False
    engine = import_module(settings.SESSION_ENGINE)
    data = engine.SessionStore(session_key=session_key).load()  # {} if missing or expired
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    backend_path = data.get(BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    user = load_backend(backend_path).get_user(user_id)  # None when missing or inactive
    if user is None or not getattr(user, "is_active", False):
        return False
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


def comparison_turns(comparison: Comparison) -> list[fragments.TurnView]:
    """Every turn with its current runs: two queries whatever the size."""
    turns = list(Turn.objects.filter(comparison=comparison).order_by("index"))
    runs = Run.objects.filter(comparison=comparison, superseded=False).order_by("position")
    return fragments.turn_views(turns, runs)


def comparison_board(
    *, comparison_id: int, owner_id: int
) -> tuple[Comparison, list[Turn], list[Run]]:
    """An owner's comparison with its turns and current runs (raises DoesNotExist)."""
    comparison = Comparison.objects.get(pk=comparison_id, owner_id=owner_id)
    turns = list(Turn.objects.filter(comparison=comparison).order_by("index"))
    runs = list(
        Run.objects.filter(comparison=comparison, superseded=False)
        .select_related("turn")
        .order_by("turn__index", "position")
    )
    return comparison, turns, runs
