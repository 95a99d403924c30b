"""Reads: what a page or a socket shows. Writes live in services."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

from playground import fragments
from playground.models import Comparison, Run, Turn


def session_is_live(*, session_key: str | None, user_id: int) -> bool:
    """The socket's login still holds: the session exists and its user is active."""
    if not session_key:
        return False
    session = Session.objects.filter(
        session_key=session_key, expire_date__gt=timezone.now()
    ).first()
    if session is None or str(session.get_decoded().get("_auth_user_id")) != str(user_id):
        return False
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


def comparison_turns(comparison: Comparison) -> list[fragments.TurnView]:
    """Every turn with its current runs: two queries whatever the size."""
    turns = list(Turn.objects.filter(comparison=comparison).order_by("index"))
    runs = Run.objects.filter(comparison=comparison, superseded=False).order_by("position")
    return fragments.turn_views(turns, runs)
