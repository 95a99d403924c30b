"""Reads of suites and suite runs: progress, per-model aggregates, the cases x models matrix."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Q

from playground.suites.aggregates import ModelAggregate, UnitRow, aggregate
from playground.suites.conf import suite_settings
from playground.suites.models import SuiteRun, SuiteUnit


def suite_run_for(*, user: AbstractBaseUser, suite_run_id: int) -> SuiteRun:
    """The user's own suite run; SuiteRun.DoesNotExist otherwise."""
    return SuiteRun.objects.select_related("suite").get(pk=suite_run_id, owner_id=user.pk)


def suite_runs_of(*, user: AbstractBaseUser) -> list[SuiteRun]:
    return list(SuiteRun.objects.filter(owner_id=user.pk).select_related("suite")[:100])


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
    return Progress(
        units=counts["units"],
        done=counts["done"],
        failed=counts["finished"] - counts["done"],
        running=counts["running"],
        remaining=counts["pending"] + counts["running"],
        cancelled=counts["cancelled"],
        spent=spent if spent is not None else Decimal(0),
        estimate=suite_run.estimate,
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


def model_aggregates(
    *, suite_run: SuiteRun, requests_per_day: int | None = None, cached_share: float = 0.0
) -> list[ModelAggregate]:
    """One aggregate per model of the run, in the run's model order."""
    volume = requests_per_day if requests_per_day is not None else suite_settings().requests_per_day
    return [
        aggregate(
            str(suite_run.model_specs[index]["model"]),
            rows,
            requests_per_day=volume,
            cached_share=cached_share,
        )
        for index, rows in _rows(suite_run).items()
    ]


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
    """Rows of cases, each with one Cell per model."""
    cases = list(suite_run.suite.cases.order_by("index"))
    cells: dict[tuple[int, int], list[SuiteUnit]] = {}
    for unit in suite_run.units.select_related("run").order_by("repeat"):
        cells.setdefault((unit.case_id, unit.model_index), []).append(unit)
    return [
        {
            "case": case,
            "cells": [
                Cell(cells.get((case.pk, index), [])) for index in range(len(suite_run.model_specs))
            ],
        }
        for case in cases
    ]


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
    }
