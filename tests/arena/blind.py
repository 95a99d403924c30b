"""Helpers for the blind-battle tests: a blind compare request through the real form, a
battle started through the real services, and its runs finished as a stream would."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from playground import services
from playground.arena import services as arena_services
from playground.arena.models import Battle
from playground.forms import CompareForm, CompareRequest
from playground.models import Run
from playground.services import RunOutcome, StartPlan


def blind_form(models: Sequence[str], size: int | None = 2, **extra: str) -> CompareForm:
    data: MultiValueDict[str, str] = MultiValueDict(
        {"prompt": ["Which one writes better?"], "models": list(models), "blind": ["on"]}
    )
    if size is not None:
        data["battle_size"] = str(size)
    for key, value in extra.items():
        data[key] = value
    return CompareForm(data)


def blind_request(models: Sequence[str], size: int = 2) -> CompareRequest:
    form = blind_form(models, size)
    assert form.is_valid(), form.error_text()
    return form.compare_request()


def start_battle(user: AbstractBaseUser, models: Sequence[str], size: int = 2) -> Battle:
    plan = arena_services.battle_prepare(user=user, request=blind_request(models, size))
    services.plan_save(plan=plan)
    return Battle.objects.get(comparison=plan.comparison)


def finish(runs: Sequence[Run] | StartPlan, texts: Sequence[str] | None = None) -> None:
    """Save each run's result as the streaming code does (services.run_finish)."""
    if isinstance(runs, StartPlan):
        runs = [start.run for start in runs.starts]
    for index, run in enumerate(runs):
        text = texts[index] if texts else f"answer {index}"
        services.run_finish(
            run_id=run.pk,
            outcome=RunOutcome(
                status=Run.Status.DONE,
                text=text,
                ttft_ms=120.0,
                total_ms=900.0,
                started=timezone.now(),
                finished=timezone.now(),
            ),
        )


def current_runs(battle: Battle) -> list[Run]:
    assert battle.comparison_id is not None
    return list(
        Run.objects.filter(comparison_id=battle.comparison_id, superseded=False).order_by(
            "turn__index", "position"
        )
    )
