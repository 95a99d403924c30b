"""Reads: what a page or a socket shows. Writes live in services."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils.crypto import constant_time_compare

from playground import fragments
from playground.arena import blinding
from playground.models import Comparison, Run, Share, ShareTombstone, Turn, share_token_digest


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
    """Every turn with its current runs: three queries whatever the size. A blind battle
    not voted on yet comes anonymised (see playground.arena.blinding)."""
    turns = list(Turn.objects.filter(comparison=comparison).order_by("index"))
    runs = Run.objects.filter(comparison=comparison, superseded=False).order_by("position")
    blind = blinding.blind_view(comparison_id=comparison.pk)
    return fragments.turn_views(turns, runs, blind=blind)


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


def first_turn_runs(comparison: Comparison) -> tuple[Turn | None, list[Run]]:
    """A comparison's first turn and its current runs, in panel order."""
    first_turn = comparison.turns.order_by("index").first()
    runs = Run.objects.filter(comparison=comparison, superseded=False, turn=first_turn)
    return first_turn, list(runs.order_by("position"))


def share_by_token(token: str) -> Share | None:
    return (
        Share.objects.select_related("comparison", "comparison__owner").filter(token=token).first()
    )


def share_was_deleted(token: str) -> bool:
    """The link belonged to a comparison since deleted (only its digest is kept)."""
    return ShareTombstone.objects.filter(token_digest=share_token_digest(token)).exists()


def owns_comparison(*, comparison_id: int, owner_id: int) -> bool:
    return Comparison.objects.filter(pk=comparison_id, owner_id=owner_id).exists()


def user_data_counts(*, user_id: int) -> dict[str, int]:
    """How much a user has: comparisons, runs and share links."""
    return {
        "comparisons": Comparison.objects.filter(owner_id=user_id).count(),
        "runs": Run.objects.filter(comparison__owner_id=user_id).count(),
        "shares": Share.objects.filter(comparison__owner_id=user_id).count(),
    }


def history(*, owner_id: int, query: str) -> QuerySet[Comparison]:
    """A user's comparisons, newest first, matching `query` in the title or any prompt, with
    their total cost, how many runs have no known cost, their first turn's runs, and whether
    each is a blind battle still waiting for its vote (`blind`: then none of that is shown)."""
    comparisons = Comparison.objects.filter(owner_id=owner_id)
    if query:
        matching = Turn.objects.filter(prompt__icontains=query).values("comparison_id")
        comparisons = comparisons.filter(Q(title__icontains=query) | Q(pk__in=matching))
    return (
        comparisons.annotate(
            total_cost=Sum("runs__cost"),
            unknown_costs=Count("runs", filter=Q(runs__cost__isnull=True)),
            blind=blinding.unrevealed_battle(),
        )
        .prefetch_related(
            Prefetch(
                "runs",
                queryset=Run.objects.filter(superseded=False, turn__index=0).order_by("position"),
                to_attr="first_runs",
            )
        )
        .order_by("-created", "-id")
    )
