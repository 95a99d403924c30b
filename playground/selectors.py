"""Reads: what a page or a socket shows. Writes live in services."""

from __future__ import annotations

from dataclasses import fields

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import DatabaseError
from django.utils import timezone

from playground import fragments
from playground.models import Comparison, Run, Turn
from playground.services import RunOutcome
from playground.streaming import LivePanel


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


def apply_outcome(run: Run, outcome: RunOutcome) -> Run:
    """The run as saved (in memory): its row fields set from the outcome."""
    for field in fields(outcome):
        setattr(run, field.name, getattr(outcome, field.name))
    return run


def comparison_turns(comparison: Comparison) -> list[fragments.TurnView]:
    """Every turn with its current runs: two queries whatever the size."""
    turns = list(Turn.objects.filter(comparison=comparison).order_by("index"))
    runs = Run.objects.filter(comparison=comparison, superseded=False).order_by("position")
    return fragments.turn_views(turns, runs)


def finished_panel_fragment(*, panel: LivePanel, turn_panels: list[LivePanel]) -> str:
    """The final panel and, once every panel of its turn is done, the turn's summary."""
    assert panel.outcome is not None
    run = apply_outcome(panel.start.run, panel.outcome)
    if panel.save_failed:
        run.error = (run.error + " " if run.error else "") + (
            "This result could not be saved (the database was unreachable)."
        )
    parts = [fragments.render_run(run, controls=True, replaces=run.pk)]
    if all(other.outcome is not None for other in turn_panels):
        try:
            outcomes = {p.run_id: p.outcome for p in turn_panels if p.outcome is not None}
            turn_runs = list(
                Run.objects.filter(turn_id=run.turn_id, superseded=False).order_by("position")
            )
        except DatabaseError:
            return "".join(parts)
        for turn_run in turn_runs:
            if turn_run.pk in outcomes:
                apply_outcome(turn_run, outcomes[turn_run.pk])
        view = fragments.turn_views([run.turn], turn_runs)[0]
        parts.append(fragments.render_summary(view))
    return "".join(parts)
