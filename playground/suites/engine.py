"""The engine: claim units, stream them through the playground's own path, save each once.

A *driver* (one per suite run per worker process, see playground.suites.tasks) claims units
in the run's shuffled order while the caps allow, streams each through
`playground.streaming.run_panel` (stream_panel, build_outcome, save_outcome) with a sink that
ignores deltas, then marks the unit finished with its checks.

Exactly once:

- A claim happens in one transaction holding the SuiteRun row (SELECT ... FOR UPDATE on
  PostgreSQL; on SQLite the IMMEDIATE transaction holds the database's write lock), so the
  drivers of several workers take units one at a time, the caps (overall, per provider, the
  user's live runs) hold across them, and a unit goes from pending to claimed by a
  conditional UPDATE that only one of them can win.
- A claimed unit names the claiming process (its `playground.durability.process_lease()`
  id, which is also the Run's `owner`). When that process's heartbeat goes stale, the run
  is swept to `interrupted` (durability.sweep_interrupted, as for a dead server) and the unit
  goes back to pending, its old run superseded: it is redone. A unit whose run was saved
  final before its process died is marked finished from that run, never redone.
- A unit stopped because its worker shut down (SIGTERM, Ctrl+C) goes back to pending too;
  only a user's cancel leaves units stopped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from inference.backends.base import RateLimitedError
from inference.catalog import ModelUnavailableError, UnknownModelError, resolve_models
from playground import quotas
from playground.conf import playground_settings
from playground.durability import sweep_interrupted
from playground.models import Run, RunCharge, ServerProcess, UserQuota
from playground.services import PanelStart, chat_request
from playground.streaming import LivePanel, run_panel
from playground.suites.checks import evaluate
from playground.suites.conf import suite_settings
from playground.suites.models import SuiteRun, SuiteUnit
from playground.suites.services import case_prompt, max_tokens_for

logger = logging.getLogger(__name__)

MAX_RATE_LIMITED_ATTEMPTS = 3
COOLDOWN_MAX_SECONDS = 60.0


class QuietSink:
    """A PanelSink that ignores deltas: a unit's result is read from its saved row."""

    def panel_changed(self, panel: LivePanel, *, urgent: bool) -> None:
        return None

    async def panel_finished(self, panel: LivePanel) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Claim:
    unit_id: int
    provider: str
    start: PanelStart


@dataclass(slots=True)
class ClaimResult:
    claims: list[Claim] = field(default_factory=list)
    stop: bool = False  # cancelled or failed: stop the running units, claim nothing


def _alive_processes() -> list[str]:
    stale = dt.timedelta(seconds=playground_settings().stale_after_seconds)
    return list(
        ServerProcess.objects.filter(heartbeat__gte=timezone.now() - stale).values_list(
            "id", flat=True
        )
    )


def _lock(suite_run_id: int) -> SuiteRun:
    if connection.features.has_select_for_update:
        return SuiteRun.objects.select_for_update().get(pk=suite_run_id)
    # SQLite: write first, so the transaction holds the write lock before it reads.
    SuiteRun.objects.filter(pk=suite_run_id).update(status=F("status"))
    return SuiteRun.objects.get(pk=suite_run_id)


def _complete(unit: SuiteUnit, run: Run) -> None:
    """Mark a unit finished from its saved run: its checks, and the run's spend."""
    if run.status == Run.Status.DONE:
        results = evaluate(
            unit.case.checks,
            text=run.text,
            output_tokens=run.output_tokens,
            total_ms=run.total_ms,
        )
        # A case without checks has no pass or fail: it is left out of the pass rate.
        passed: bool | None = all(result.passed for result in results) if results else None
    else:
        results, passed = [], (False if unit.case.checks else None)
    updated = SuiteUnit.objects.filter(pk=unit.pk, status=SuiteUnit.Status.CLAIMED).update(
        status=SuiteUnit.Status.FINISHED,
        finished=timezone.now(),
        check_results=[result.as_json() for result in results],
        passed=passed,
    )
    if updated and run.cost:
        SuiteRun.objects.filter(pk=unit.suite_run_id).update(spent=F("spent") + run.cost)


def _requeue(unit: SuiteUnit, quota_start_id: int | None) -> None:
    """Put a claimed unit back in the queue: its run is kept, superseded, and a new
    reservation replaces the one its run used."""
    if unit.run_id is not None:
        Run.objects.filter(pk=unit.run_id).update(superseded=True)
    charge = None
    if quota_start_id is not None:
        charge = RunCharge.objects.create(start_id=quota_start_id, reserved=unit.reserved)
    SuiteUnit.objects.filter(pk=unit.pk, status=SuiteUnit.Status.CLAIMED).update(
        status=SuiteUnit.Status.PENDING, claimed_by="", claimed_at=None, run=None, charge=charge
    )


def reclaim_dead(*, suite_run_id: int) -> int:
    """Units claimed by a process that died: finished from their run if it was saved, else
    queued again (their runs swept to interrupted first). Returns the units requeued."""
    alive = _alive_processes()
    claimed = SuiteUnit.objects.filter(suite_run_id=suite_run_id, status=SuiteUnit.Status.CLAIMED)
    if not claimed.exclude(claimed_by__in=alive).exists():
        return 0
    stale = dt.timedelta(seconds=playground_settings().stale_after_seconds)
    sweep_interrupted(stale_after=stale)
    requeued = 0
    with transaction.atomic():
        suite_run = _lock(suite_run_id)
        dead = (
            SuiteUnit.objects.filter(suite_run_id=suite_run_id, status=SuiteUnit.Status.CLAIMED)
            .exclude(claimed_by__in=_alive_processes())
            .select_related("run", "case")
        )
        for unit in dead:
            run = unit.run
            if run is not None and run.is_final and run.status != Run.Status.INTERRUPTED:
                _complete(unit, run)  # saved before its process died: never redone
            elif run is not None and not run.is_final:
                continue  # not swept yet (its owner is not stale in the sweeper's eyes)
            elif suite_run.is_final and run is not None:
                _complete(unit, run)  # cancelled meanwhile: it stays as it ended
            else:
                _requeue(unit, suite_run.quota_start_id)
                requeued += 1
    if requeued:
        logger.warning(
            "Suite run %s: %s units of a dead worker queued again", suite_run_id, requeued
        )
    return requeued


def _fail(suite_run: SuiteRun, message: str) -> None:
    """Stop a run for a reason of its own (a limit, a model gone): pending units cancelled."""
    pending = suite_run.units.filter(status=SuiteUnit.Status.PENDING)
    RunCharge.objects.filter(pk__in=pending.values("charge_id"), run__isnull=True).update(
        cost=0, settled=True
    )
    pending.update(status=SuiteUnit.Status.CANCELLED)
    SuiteRun.objects.filter(pk=suite_run.pk).update(status=SuiteRun.Status.FAILED, error=message)


def _over_limit(user_id: int) -> str:
    quota = UserQuota.objects.filter(user_id=user_id).first()
    limit = quotas.limits_for(quota).daily_spend
    if limit is None:
        return ""
    spent = quotas.spent_today(user_id)
    if spent > limit:
        return (
            f"Daily spending limit reached: ${spent:.4f} spent today against a limit of "
            f"${limit:.2f}; the answers not yet run were cancelled (resume it tomorrow)."
        )
    return ""


def claim_units(
    *, suite_run_id: int, owner: str, cooling: frozenset[str] = frozenset()
) -> ClaimResult:
    """Claim as many units as the caps allow, next in the shuffled order, writing their Run
    rows (owned by `owner`); providers in `cooling` are skipped for now."""
    reclaim_dead(suite_run_id=suite_run_id)
    with transaction.atomic():
        suite_run = _lock(suite_run_id)
        if suite_run.is_final:
            return ClaimResult(stop=True)
        if suite_run.status == SuiteRun.Status.QUEUED:
            SuiteRun.objects.filter(pk=suite_run.pk).update(
                status=SuiteRun.Status.RUNNING, started=suite_run.started or timezone.now()
            )
        reason = _over_limit(suite_run.owner_id)
        if reason:
            _fail(suite_run, reason)
            return ClaimResult(stop=True)
        units = suite_run.units
        busy = dict(
            units.filter(status=SuiteUnit.Status.CLAIMED)
            .values_list("provider_slug")
            .annotate(n=Count("pk"))
        )
        room = suite_run.concurrency - sum(busy.values())
        live_cap = playground_settings().max_live_runs_per_user
        if live_cap:
            room = min(room, live_cap - quotas.live_runs(suite_run.owner_id))
        if room <= 0:
            return ClaimResult()
        picked: list[SuiteUnit] = []
        for unit in units.filter(status=SuiteUnit.Status.PENDING).select_related("case")[:500]:
            cap = suite_run.provider_concurrency.get(
                unit.provider_slug, suite_run.default_provider_concurrency
            )
            if unit.provider_slug in cooling or busy.get(unit.provider_slug, 0) >= cap:
                continue
            picked.append(unit)
            busy[unit.provider_slug] = busy.get(unit.provider_slug, 0) + 1
            if len(picked) >= room:
                break
        if not picked:
            return ClaimResult()
        try:
            resolved = {m.name: m for m in resolve_models(sorted({u.model_name for u in picked}))}
        except (UnknownModelError, ModelUnavailableError) as exc:
            _fail(suite_run, f"A model can no longer run: {exc}")
            return ClaimResult(stop=True)
        now = timezone.now()
        claims: list[Claim] = []
        for unit in picked:
            spec = suite_run.model_specs[unit.model_index]
            model = resolved[unit.model_name]
            temperature = spec.get("temperature")
            max_tokens = max_tokens_for(spec)
            system, prompt = case_prompt(unit.case)
            run = Run.objects.create(
                comparison_id=suite_run.comparison_id,
                turn=suite_run.comparison.turns.get(index=unit.case.index),
                position=unit.model_index * suite_run.repeats + unit.repeat,
                attempt=unit.attempts + 1,
                model_id=model.model_id,
                model_name=model.name,
                model_label=model.label,
                provider_label=model.provider_label,
                provider_kind=model.kind,
                temperature=temperature if isinstance(temperature, int | float) else None,
                max_tokens=max_tokens,
                prices=model.prices.as_json(),
                owner=owner,
            )
            won = SuiteUnit.objects.filter(pk=unit.pk, status=SuiteUnit.Status.PENDING).update(
                status=SuiteUnit.Status.CLAIMED,
                claimed_by=owner,
                claimed_at=now,
                run=run,
                attempts=F("attempts") + 1,
            )
            if not won:  # cannot happen under the lock; never run a unit someone else has
                run.delete()
                continue
            if unit.charge_id is not None:
                RunCharge.objects.filter(pk=unit.charge_id).update(run=run)
            request = chat_request(
                model=model,
                system=system,
                history=(),
                prompt=prompt,
                temperature=run.temperature,
                max_tokens=max_tokens,
            )
            claims.append(Claim(unit.pk, unit.provider_slug, PanelStart(run, model, request)))
        return ClaimResult(claims=claims)


def unit_finish(*, unit_id: int, owner: str, rate_limited: bool) -> str:
    """After a unit's run is saved: finish it, or queue it again when its worker is shutting
    down (stopped, not cancelled) or the provider refused it for its rate limit. Returns
    "finished", "requeued" or "lost" (no longer ours)."""
    with transaction.atomic():
        unit = (
            SuiteUnit.objects.filter(pk=unit_id, status=SuiteUnit.Status.CLAIMED, claimed_by=owner)
            .select_related("run", "case", "suite_run")
            .first()
        )
        if unit is None or unit.run is None:
            return "lost"
        run, suite_run = unit.run, unit.suite_run
        stopped_by_us = run.status == Run.Status.STOPPED and not suite_run.is_final
        retry = (
            rate_limited and unit.attempts < MAX_RATE_LIMITED_ATTEMPTS and not suite_run.is_final
        )
        if stopped_by_us or retry:
            _requeue(unit, suite_run.quota_start_id)
            return "requeued"
        _complete(unit, run)
        return "finished"


def finish_if_done(*, suite_run_id: int) -> bool:
    """Mark the run done once no unit is left; True when the run is final."""
    with transaction.atomic():
        suite_run = _lock(suite_run_id)
        left = suite_run.units.filter(
            status__in=(SuiteUnit.Status.PENDING, SuiteUnit.Status.CLAIMED)
        ).exists()
        if left:
            return False
        if not suite_run.is_final:
            SuiteRun.objects.filter(pk=suite_run.pk).update(
                status=SuiteRun.Status.DONE, finished=timezone.now()
            )
        elif suite_run.finished is None:
            SuiteRun.objects.filter(pk=suite_run.pk).update(finished=timezone.now())
        return True


def is_final(*, suite_run_id: int) -> bool:
    return SuiteRun.objects.filter(pk=suite_run_id, status__in=SuiteRun.FINAL_STATUSES).exists()


@dataclass(slots=True)
class _Cooldowns:
    """Providers paused after a unit came back rate limited (exponential, capped)."""

    until: dict[str, float] = field(default_factory=dict)
    strikes: dict[str, int] = field(default_factory=dict)

    def strike(self, provider: str, now: float) -> None:
        count = self.strikes[provider] = self.strikes.get(provider, 0) + 1
        self.until[provider] = now + min(2.0**count, COOLDOWN_MAX_SECONDS)

    def active(self, now: float) -> frozenset[str]:
        return frozenset(p for p, t in self.until.items() if t > now)


async def _run_unit(claim: Claim, owner: str) -> str:
    panel = LivePanel(start=claim.start)
    panel.life.release()  # its row is written: it may be saved
    await run_panel(panel, QuietSink())
    rate_limited = panel.status == Run.Status.ERROR and RateLimitedError.label in panel.error
    result: str = await database_sync_to_async(unit_finish)(
        unit_id=claim.unit_id, owner=owner, rate_limited=rate_limited
    )
    return "rate_limited" if rate_limited and result == "requeued" else result


async def drive(suite_run_id: int, owner: str, stop: asyncio.Event | None = None) -> str:
    """Run units of one suite run until none is left for this process to claim.

    Returns "final" (the run is done, cancelled or failed), "idle" (nothing to claim now:
    other processes hold the rest) or "stopped" (`stop` was set: the running units were
    stopped and queued again).
    """
    limits = suite_settings()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    running: dict[asyncio.Task[str], Claim] = {}
    cooldowns = _Cooldowns()
    claim = database_sync_to_async(claim_units)
    try:
        while not stop.is_set():
            result = await claim(
                suite_run_id=suite_run_id, owner=owner, cooling=cooldowns.active(loop.time())
            )
            if result.stop:
                break
            for item in result.claims:
                running[asyncio.create_task(_run_unit(item, owner))] = item
            if not running:
                if cooldowns.active(loop.time()):
                    await asyncio.sleep(limits.poll_seconds)
                    continue
                return (
                    "final"
                    if await database_sync_to_async(finish_if_done)(suite_run_id=suite_run_id)
                    else "idle"
                )
            waiter = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait(
                [*running, waiter], timeout=limits.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            for task in done:
                if task is waiter:
                    continue
                item = running.pop(task)  # type: ignore[arg-type]
                try:
                    if task.result() == "rate_limited":
                        cooldowns.strike(item.provider, loop.time())
                except Exception:
                    logger.exception("Suite run %s: a unit failed to save", suite_run_id)
    finally:
        # Cancelled, failed, stopping, or this coroutine itself cancelled: stop what runs
        # here; each run is saved as stopped (then finished, or queued again).
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    if stop.is_set():
        return "stopped"
    await database_sync_to_async(finish_if_done)(suite_run_id=suite_run_id)
    return "final"


@contextmanager
def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[list[int]]:
    """SIGINT and SIGTERM set `stop` while the block runs (main thread only); yields the
    signals received, and restores the previous handlers after."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signals}

    def handle(signum: int) -> None:
        received.append(signum)
        stop.set()

    for signum in signals:
        loop.add_signal_handler(signum, handle, signum)
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, handler)
