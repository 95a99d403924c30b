"""Reads of suites and suite runs: progress, per-model aggregates, the cases x models matrix,
the units a live page is told about, and the rows of the exports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Q
from django.utils import timezone

from playground.models import Share
from playground.suites.aggregates import ModelAggregate, UnitRow, aggregate
from playground.suites.conf import suite_settings
from playground.suites.models import SuiteRun, SuiteUnit
from playground.suites.parsing import render

# The ETA follows the rate of the last this many finishes (so a pause, a resume or a slow
# start soon stops counting).
ETA_WINDOW = 20


def suite_run_for(*, user: AbstractBaseUser, suite_run_id: int) -> SuiteRun:
    """The user's own suite run; SuiteRun.DoesNotExist otherwise."""
    return SuiteRun.objects.select_related("suite").get(pk=suite_run_id, owner_id=user.pk)


def suite_runs_of(*, user: AbstractBaseUser) -> list[SuiteRun]:
    return list(SuiteRun.objects.filter(owner_id=user.pk).select_related("suite")[:100])


def owns_suite_run(*, user_id: int, suite_run_id: int) -> bool:
    return SuiteRun.objects.filter(pk=suite_run_id, owner_id=user_id).exists()


def suite_run_fresh(*, suite_run_id: int) -> SuiteRun | None:
    """The run as saved now (its status, spend and times), None once deleted."""
    return SuiteRun.objects.select_related("suite").filter(pk=suite_run_id).first()


def suite_run_of_share(share: Share) -> SuiteRun | None:
    """The suite run whose comparison a share link opens, if it is one."""
    return (
        SuiteRun.objects.select_related("suite", "owner")
        .filter(comparison_id=share.comparison_id)
        .first()
    )


@dataclass(frozen=True, slots=True)
class Progress:
    units: int
    done: int  # finished with a done run
    failed: int  # finished any other way (error, stopped, interrupted)
    running: int
    remaining: int  # pending or running
    cancelled: int
    spent: Decimal
    estimate: Decimal | None
    eta_seconds: float | None = None  # None: not estimable yet (or nothing left)

    @property
    def finished(self) -> int:
        return self.done + self.failed


def eta_seconds(
    *,
    finished_at: Sequence[dt.datetime],
    started: dt.datetime | None,
    now: dt.datetime,
    remaining: int,
    window: int = ETA_WINDOW,
) -> float | None:
    """Seconds until the remaining units are done at the observed finish rate: the last
    `window` finishes over the time since the finish before them (or since the start).
    None until a unit has finished, or when nothing is left."""
    if remaining <= 0 or not finished_at or started is None:
        return None
    recent = sorted(finished_at, reverse=True)
    if len(recent) > window:
        origin, count = recent[window], window
    else:
        origin, count = started, len(recent)
    elapsed = (now - origin).total_seconds()
    if elapsed <= 0:
        return None
    return remaining * elapsed / count


def progress(*, suite_run: SuiteRun) -> Progress:
    S = SuiteUnit.Status
    counts = suite_run.units.aggregate(
        units=Count("pk"),
        done=Count("pk", filter=Q(status=S.FINISHED, run__status="done")),
        finished=Count("pk", filter=Q(status=S.FINISHED)),
        running=Count("pk", filter=Q(status=S.CLAIMED)),
        pending=Count("pk", filter=Q(status=S.PENDING)),
        cancelled=Count("pk", filter=Q(status=S.CANCELLED)),
    )
    spent = SuiteRun.objects.filter(pk=suite_run.pk).values_list("spent", flat=True).first()
    remaining = counts["pending"] + counts["running"]
    eta = None
    if remaining and counts["finished"]:
        recent = suite_run.units.filter(status=S.FINISHED, finished__isnull=False)
        times = recent.order_by("-finished").values_list("finished", flat=True)[: ETA_WINDOW + 1]
        eta = eta_seconds(
            finished_at=[time for time in times if time is not None],
            started=suite_run.started,
            now=timezone.now(),
            remaining=remaining,
        )
    return Progress(
        units=counts["units"],
        done=counts["done"],
        failed=counts["finished"] - counts["done"],
        running=counts["running"],
        remaining=remaining,
        cancelled=counts["cancelled"],
        spent=spent if spent is not None else Decimal(0),
        estimate=suite_run.estimate,
        eta_seconds=eta,
    )


def _rows(suite_run: SuiteRun) -> dict[int, list[UnitRow]]:
    by_model: dict[int, list[UnitRow]] = {i: [] for i in range(len(suite_run.model_specs))}
    units = (
        suite_run.units.filter(status=SuiteUnit.Status.FINISHED)
        .select_related("run")
        .order_by("order")
    )
    for unit in units:
        run = unit.run
        if run is None:
            continue
        by_model[unit.model_index].append(
            UnitRow(
                status=run.status,
                passed=unit.passed,
                ttft_ms=run.ttft_ms,
                total_ms=run.total_ms,
                tokens_per_s=run.tokens_per_s,
                input_tokens=run.input_tokens,
                output_tokens=run.output_tokens,
                reasoning_tokens=run.reasoning_tokens,
                cost=run.cost,
                prices=run.prices,
                run_id=run.pk,
            )
        )
    return by_model


def _aggregates(
    suite_run: SuiteRun,
    rows: dict[int, list[UnitRow]],
    *,
    requests_per_day: int | None,
    cached_share: float,
) -> list[ModelAggregate]:
    volume = requests_per_day if requests_per_day is not None else suite_settings().requests_per_day
    return [
        aggregate(
            str(suite_run.model_specs[index]["model"]),
            model_rows,
            requests_per_day=volume,
            cached_share=cached_share,
        )
        for index, model_rows in rows.items()
    ]


def model_aggregates(
    *, suite_run: SuiteRun, requests_per_day: int | None = None, cached_share: float = 0.0
) -> list[ModelAggregate]:
    """One aggregate per model of the run, in the run's model order."""
    return _aggregates(
        suite_run, _rows(suite_run), requests_per_day=requests_per_day, cached_share=cached_share
    )


@dataclass(frozen=True, slots=True)
class Results:
    """The per-model figures and what the charts plot: per model (in the run's order), the
    (run id, ms) of each done run with a measured time to first token, and of total time."""

    aggregates: list[ModelAggregate]
    ttft: list[list[tuple[int, float]]]
    total: list[list[tuple[int, float]]]


def results(
    *, suite_run: SuiteRun, requests_per_day: int | None = None, cached_share: float = 0.0
) -> Results:
    """The aggregates and the charts' points, from one read of the finished units."""
    rows = _rows(suite_run)
    done = [[row for row in model_rows if row.status == "done"] for model_rows in rows.values()]
    return Results(
        aggregates=_aggregates(
            suite_run, rows, requests_per_day=requests_per_day, cached_share=cached_share
        ),
        ttft=[
            [(row.run_id or 0, row.ttft_ms) for row in model if row.ttft_ms is not None]
            for model in done
        ],
        total=[
            [(row.run_id or 0, row.total_ms) for row in model if row.total_ms is not None]
            for model in done
        ],
    )


@dataclass(frozen=True, slots=True)
class Cell:
    """One case x model: its units (one per repeat), each with its run's figures."""

    units: list[SuiteUnit]

    @property
    def passed(self) -> int:
        return sum(1 for unit in self.units if unit.passed)

    @property
    def finished(self) -> int:
        return sum(1 for unit in self.units if unit.status == SuiteUnit.Status.FINISHED)


def matrix(*, suite_run: SuiteRun) -> list[dict[str, Any]]:
    """Rows of cases (each with its prompt as sent), each with one Cell per model."""
    cases = list(suite_run.suite.cases.order_by("index"))
    cells: dict[tuple[int, int], list[SuiteUnit]] = {}
    for unit in suite_run.units.select_related("run").order_by("repeat"):
        cells.setdefault((unit.case_id, unit.model_index), []).append(unit)
    return [
        {
            "case": case,
            "prompt": render(case.prompt, case.vars),
            "cells": [
                Cell(cells.get((case.pk, index), [])) for index in range(len(suite_run.model_specs))
            ],
        }
        for case in cases
    ]


def units_to_check(
    *, suite_run_id: int, finished_since: dt.datetime, also: Collection[int] = ()
) -> list[SuiteUnit]:
    """What a live page may not know yet: units finished since `finished_since`, the running
    ones, and the units named in `also` (those that were running), with their runs."""
    wanted = Q(status=SuiteUnit.Status.FINISHED, finished__gte=finished_since) | Q(
        status=SuiteUnit.Status.CLAIMED
    )
    if also:
        wanted |= Q(pk__in=list(also))
    return list(
        SuiteUnit.objects.filter(Q(suite_run_id=suite_run_id) & wanted)
        .select_related("run")
        .order_by("order")
    )


def units_since(*, suite_run_id: int, since: dt.datetime | None) -> list[SuiteUnit]:
    """Every unit that is no longer pending, or only those finished since `since` (and the
    running and cancelled ones): what a page rendered at `since` needs to catch up."""
    units = SuiteUnit.objects.filter(suite_run_id=suite_run_id).exclude(
        status=SuiteUnit.Status.PENDING
    )
    if since is not None:
        units = units.exclude(status=SuiteUnit.Status.FINISHED, finished__lt=since)
    return list(units.select_related("run").order_by("order"))


def export_units(*, suite_run: SuiteRun) -> list[SuiteUnit]:
    """Every unit of the run in its order, with its case and current run."""
    return list(suite_run.units.select_related("case", "run").order_by("order"))


def money(value: Decimal | None) -> str | None:
    """A cost as the JSON exports write it: a decimal string, or None when unknown."""
    return None if value is None else f"{value:.8f}"


def aggregate_json(item: ModelAggregate) -> dict[str, Any]:
    """The terminal's per-model object (`suite run --json`)."""
    return {
        "model": item.model,
        "requests": item.requests,
        "errors": item.errors,
        "pass_rate": item.pass_rate,
        "ttft_ms": {"p50": item.ttft_p50, "p95": item.ttft_p95},
        "total_ms": {"p50": item.total_p50, "p95": item.total_p95},
        "tokens_per_s": {"p50": item.tokens_per_s_p50},
        "input_tokens_mean": item.input_tokens_mean,
        "output_tokens_mean": item.output_tokens_mean,
        "cost_usd_total": money(item.cost_total),
        "cost_per_request_usd": money(item.cost_per_request),
        "cost_per_day_usd": money(item.volume.per_day),
        "cost_per_day_batch_usd": money(item.volume.batch_per_day),
    }
