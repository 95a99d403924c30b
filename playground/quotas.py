"""Per-user limits that hold under concurrency: the pace, the daily spend, the live runs.

A start (a comparison, a follow-up or a retry) is checked twice:

- `precheck`, read-only, while it is prepared, so a start that is plainly over a limit
  sends no upstream request at all;
- `reserve`, inside the transaction that writes the start's rows (services.plan_save). It
  first takes the user's UserQuota row for itself (SELECT ... FOR UPDATE on PostgreSQL; on
  SQLite an UPDATE of that row, which takes the database's write lock before any read), so
  the starts of one user, from every socket and process, pass it one at a time. It then
  writes a QuotaStart (a slot of the pace) and one RunCharge per run, reserving the most
  the run could cost; `settle` replaces the reservation with the real cost at finish.

In-flight runs therefore count at their reservation, and two sockets can never both spend
the same remaining budget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Case, DecimalField, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from playground.conf import playground_settings
from playground.models import QuotaStart, Run, RunCharge, UserQuota

ZERO = Decimal(0)


class LimitExceeded(ValueError):
    """A start would pass one of the user's limits; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits that apply to one user now."""

    per_minute: int  # 0: no pace
    daily_spend: Decimal | None  # None: no daily limit
    max_live_runs: int  # 0: no cap


def limits_for(quota: UserQuota | None) -> Limits:
    site = playground_settings()
    per_minute = site.comparisons_per_minute
    if quota is not None and quota.comparisons_per_minute is not None:
        per_minute = quota.comparisons_per_minute
    return Limits(
        per_minute=per_minute,
        daily_spend=quota.daily_spend_limit if quota is not None else None,
        max_live_runs=site.max_live_runs_per_user,
    )


def day_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight UTC of today: the daily limit's day."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def spent_today(user_id: int) -> Decimal:
    """Today's spend: finished runs at their cost, runs still streaming at their reservation."""
    money = DecimalField(max_digits=16, decimal_places=8)
    amount = Case(
        When(settled=True, then=Coalesce("cost", Value(ZERO), output_field=money)),
        # Finished some other way (e.g. marked interrupted after a crash): the run's cost.
        When(
            run__status__in=Run.FINAL_STATUSES,
            then=Coalesce("run__cost", Value(ZERO), output_field=money),
        ),
        default=Coalesce("reserved", Value(ZERO), output_field=money),
        output_field=money,
    )
    total = RunCharge.objects.filter(
        start__user_id=user_id, start__created__gte=day_start()
    ).aggregate(total=Sum(amount))["total"]
    return total or ZERO


def starts_last_minute(user_id: int) -> int:
    since = timezone.now() - dt.timedelta(minutes=1)
    return QuotaStart.objects.filter(user_id=user_id, created__gte=since).count()


def live_runs(user_id: int) -> int:
    """Runs of the user still pending or streaming, whichever socket or process runs them."""
    return Run.objects.filter(comparison__owner_id=user_id, status__in=Run.LIVE_STATUSES).count()


def _check(*, user_id: int, limits: Limits, runs: int, estimate: Decimal | None) -> None:
    """Raise LimitExceeded if `runs` more runs, reserving `estimate`, would pass a limit."""
    if limits.per_minute and starts_last_minute(user_id) >= limits.per_minute:
        raise LimitExceeded(
            f"Slow down: at most {limits.per_minute} comparisons a minute "
            "(retries and follow-ups count too). Try again in a moment."
        )
    if limits.max_live_runs:
        live = live_runs(user_id)
        if live + runs > limits.max_live_runs:
            raise LimitExceeded(
                f"Too many answers streaming at once: {live} are running and the limit is "
                f"{limits.max_live_runs}. Wait for some to finish, or stop them."
            )
    if limits.daily_spend is None:
        return
    spent = spent_today(user_id)
    cost = estimate or ZERO
    if spent + cost > limits.daily_spend:
        raise LimitExceeded(
            f"Daily spending limit reached: this comparison could cost up to ${cost:.4f}, "
            f"you have spent ${spent:.4f} today (answers still streaming count at their "
            f"most), and your limit is ${limits.daily_spend:.2f} a day."
        )


def precheck(*, user_id: int, runs: int, estimate: Decimal | None) -> None:
    """The quick read-only check while a start is prepared (no lock, no writes)."""
    quota = UserQuota.objects.filter(user_id=user_id).first()
    _check(user_id=user_id, limits=limits_for(quota), runs=runs, estimate=estimate)


def _lock_quota(user_id: int) -> UserQuota:
    """The user's quota row, held until the transaction ends (created if missing)."""
    if connection.features.has_select_for_update:
        quota = UserQuota.objects.select_for_update().filter(user_id=user_id).first()
        if quota is None:
            # Two first starts at once: one INSERT waits for the other, then reads it.
            UserQuota.objects.get_or_create(user_id=user_id)
            quota = UserQuota.objects.select_for_update().get(user_id=user_id)
        return quota
    # SQLite: writing first takes the database's write lock before anything is read (with
    # IMMEDIATE transactions it is already held; this keeps it so under DEFERRED ones).
    UserQuota.objects.filter(user_id=user_id).update(user_id=user_id)
    quota, _ = UserQuota.objects.get_or_create(user_id=user_id)
    return quota


def reserve(*, user_id: int, reservations: Sequence[Decimal | None]) -> QuotaStart:
    """Inside the start's transaction, before its rows: take a slot and reserve the cost.

    `reservations` holds each new run's most possible cost (None: no price). Raises
    LimitExceeded; the caller's transaction then writes nothing.
    """
    quota = _lock_quota(user_id)
    known = [amount for amount in reservations if amount is not None]
    estimate = sum(known, ZERO) if known else None
    _check(user_id=user_id, limits=limits_for(quota), runs=len(reservations), estimate=estimate)
    return QuotaStart.objects.create(user_id=user_id)


def record_charges(
    *, start: QuotaStart, runs: Sequence[Run], reservations: Sequence[Decimal | None]
) -> None:
    """One RunCharge per run written by the start (the runs have their ids by now)."""
    RunCharge.objects.bulk_create(
        [
            RunCharge(start=start, run=run, reserved=amount)
            for run, amount in zip(runs, reservations, strict=True)
        ]
    )


def settle(*, run_id: int, cost: Decimal | None) -> None:
    """The run finished: its reservation becomes its real cost."""
    RunCharge.objects.filter(run_id=run_id).update(cost=cost, settled=True)
