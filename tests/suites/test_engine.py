"""Suite runs through the real engine: `manage.py db_worker` processes on the test database,
streaming from the upstream simulator. Conditions are waited for, never durations."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection

from inference.simulator import Scenario
from playground.models import Run, RunCharge, UserQuota
from playground.suites import selectors, services
from playground.suites.models import SuiteRun, SuiteUnit
from playground.suites.parsing import parse_text
from playground.suites.services import ModelSpec, SuiteRefused
from playground.suites.tasks import enqueue_successor
from tests.servers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CASES = "\n".join(
    json.dumps({"prompt": "Say {{word}} to case {{n}}", "vars": {"word": "yes", "n": i},
                "expect": {"contains": "yes"}})
    for i in range(5)
)  # fmt: skip
MODELS = [ModelSpec("sim:alpha"), ModelSpec("sim:beta")]


def make_run(user, *, repeats=3, concurrency=2, **extra) -> SuiteRun:
    suite = services.suite_create(
        user=user, name="five", cases=parse_text(CASES, filename="five.jsonl")
    )
    return services.suite_run_start(
        user=user, suite=suite, models=MODELS, repeats=repeats, concurrency=concurrency, **extra
    )


def answers(sim, *, interval: float = 0.0) -> None:
    """alpha answers with "yes" (passes), beta without (fails); exact usage for the costs."""
    sim.set(
        "alpha",
        Scenario(chunks=["alpha ", "says ", "yes", "."],
                 interval=interval, input_tokens=10, output_tokens=20),
    )  # fmt: skip
    sim.set(
        "beta",
        Scenario(chunks=["beta ", "says ", "no", "."], interval=interval, input_tokens=10,
                 output_tokens=40),
    )  # fmt: skip


def final(suite_run: SuiteRun) -> bool:
    suite_run.refresh_from_db()
    return suite_run.is_final


def current_runs(suite_run: SuiteRun):
    return Run.objects.filter(comparison_id=suite_run.comparison_id, superseded=False)


def test_five_cases_two_models_three_repeats_make_thirty_runs(user, sim, sim_models, workers):
    answers(sim)
    suite_run = make_run(user)
    worker = workers("suite-worker")
    assert wait_until(lambda: final(suite_run), timeout=120), worker.log()
    assert suite_run.status == SuiteRun.Status.DONE, suite_run.error

    runs = current_runs(suite_run)
    assert runs.count() == 30
    assert Run.objects.filter(comparison_id=suite_run.comparison_id).count() == 30
    assert runs.filter(status=Run.Status.DONE).count() == 30
    assert SuiteUnit.objects.filter(suite_run=suite_run, status="finished").count() == 30
    # Every unit has its own run, owned by the worker's process lease.
    units = SuiteUnit.objects.filter(suite_run=suite_run)
    assert len({unit.run_id for unit in units}) == 30
    assert all(run.owner for run in runs)
    # The shuffled order is recorded and interleaves the models.
    order = [unit.model_name for unit in units.order_by("order")]
    assert order != sorted(order)

    alpha, beta = selectors.model_aggregates(suite_run=suite_run)
    assert (alpha.model, beta.model) == ("sim:alpha", "sim:beta")
    assert alpha.requests == beta.requests == 15
    assert alpha.errors == beta.errors == 0
    assert (alpha.pass_rate, beta.pass_rate) == (1.0, 0.0)
    assert (alpha.input_tokens_mean, alpha.output_tokens_mean) == (10.0, 20.0)
    assert beta.output_tokens_mean == 40.0
    # Prices 1 and 4 USD per 1M tokens: 10 in + 20 out, and 10 in + 40 out.
    assert alpha.cost_per_request == Decimal("0.00009000")
    assert alpha.cost_total == Decimal("0.00135000")
    assert beta.cost_total == Decimal("0.00255000")
    assert alpha.volume.per_day == Decimal("0.90000000")
    assert alpha.volume.per_month == Decimal("27.00000000")
    assert Decimal(alpha.volume.prices["input_per_m"] or "nan") == 1
    assert alpha.ttft_p50 is not None and alpha.ttft_p95 is not None
    assert alpha.ttft_p50 <= alpha.ttft_p95
    assert alpha.total_p50 is not None and alpha.total_p50 <= (alpha.total_p95 or 0)
    # Spend recorded against the reservation; every charge settled.
    suite_run.refresh_from_db()
    assert suite_run.spent == Decimal("0.00390000")
    assert suite_run.estimate is not None and suite_run.estimate >= suite_run.spent
    charges = RunCharge.objects.filter(start_id=suite_run.quota_start_id)
    assert charges.count() == 30 and not charges.filter(settled=False).exists()


def test_a_killed_worker_is_redone_by_the_next_none_lost_none_twice(user, sim, sim_models, workers):
    answers(sim, interval=0.15)
    suite_run = make_run(user)
    units = SuiteUnit.objects.filter(suite_run=suite_run)
    first = workers("suite-kill-1")
    assert wait_until(
        lambda: (
            units.filter(status="finished").count() >= 4
            and units.filter(status="claimed").count() == 2
        ),
        timeout=120,
        step=0.02,
    ), first.log()
    first.kill()
    in_flight = set(units.filter(status="claimed").values_list("pk", flat=True))
    assert in_flight, "the worker was killed between units; nothing to redo"
    assert not final(suite_run)

    second = workers("suite-kill-2")
    assert wait_until(lambda: final(suite_run), timeout=180), second.log()
    assert suite_run.status == SuiteRun.Status.DONE, suite_run.error
    runs = current_runs(suite_run)
    assert runs.count() == 30
    # None twice: exactly one answer saved as done per unit, over every attempt.
    assert Run.objects.filter(comparison_id=suite_run.comparison_id, status="done").count() == 30
    # None lost: the units the dead worker held were redone, their first runs kept, superseded.
    for unit in units.filter(pk__in=in_flight):
        assert unit.attempts == 2 and unit.run is not None
        assert unit.run.status == Run.Status.DONE
    stale = Run.objects.filter(comparison_id=suite_run.comparison_id, superseded=True)
    assert stale.count() == len(in_flight)
    assert set(stale.values_list("status", flat=True)) == {Run.Status.INTERRUPTED}
    assert len({run.owner for run in runs}) == 2  # both processes ran units


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="several workers need PostgreSQL (SQLite serialises every writer; CI sets DATABASE_URL)",
)
def test_two_workers_on_postgresql_never_run_one_unit_twice(user, sim, sim_models, workers):
    # The caps are the run's, across workers: a second worker claims the slots that free up
    # while the first is busy, so drivers recheck often here and units are slow enough to
    # leave slots free in turn, and both workers contend for every one.
    answers(sim, interval=0.1)
    suite_run = make_run(user, concurrency=4)
    enqueue_successor(suite_run.pk)  # a second driver for the second worker at once
    fast = {"PLAYGROUND_SUITE_RECHECK_SECONDS": "0.1"}
    first, second = workers("suite-pg-1", **fast), workers("suite-pg-2", **fast)
    assert wait_until(lambda: final(suite_run), timeout=180), first.log() + second.log()
    assert suite_run.status == SuiteRun.Status.DONE, suite_run.error
    every = Run.objects.filter(comparison_id=suite_run.comparison_id)
    assert every.count() == 30 and every.filter(status="done").count() == 30
    # Which worker wins which slot is a race (the caps are the run's): the property that
    # must hold whatever the interleaving is that no unit was streamed or saved twice.
    assert sim.wait_for(lambda reqs: len(reqs) >= 30, 5)
    assert len([r for r in sim.requests if r.wire == "openai"]) == 30


def test_cancel_stops_new_units_and_saves_the_running_ones_as_stopped(
    user, sim, sim_models, workers
):
    for name in ("alpha", "beta"):
        sim.set(name, Scenario(chunks=["a ", "b ", "c "] * 20, interval=0.01, fault="stall",
                               fault_after=3))  # fmt: skip
    suite_run = make_run(user)
    units = SuiteUnit.objects.filter(suite_run=suite_run)
    worker = workers("suite-cancel")
    assert wait_until(
        lambda: (
            units.filter(status="claimed").count() == 2
            and len([r for r in sim.requests if r.first_byte is not None]) == 2
        ),
        timeout=120,
    ), worker.log()
    cancelled = services.suite_run_cancel(user=user, suite_run_id=suite_run.pk)
    assert cancelled == 28
    assert wait_until(lambda: not units.filter(status="claimed").exists(), timeout=60), worker.log()
    suite_run.refresh_from_db()
    assert suite_run.status == SuiteRun.Status.CANCELLED
    runs = Run.objects.filter(comparison_id=suite_run.comparison_id)
    assert runs.count() == 2
    assert set(runs.values_list("status", flat=True)) == {Run.Status.STOPPED}
    assert all(run.text == "a b c " for run in runs)
    assert units.filter(status="cancelled", run__isnull=True).count() == 28
    # The units that never ran gave their reservation back.
    assert not RunCharge.objects.filter(start_id=suite_run.quota_start_id, settled=False).exists()
    assert wait_until(lambda: final(suite_run) and suite_run.finished is not None, timeout=30)
    assert len(sim.requests) == 2

    # Resuming runs the cancelled and stopped units, keeping nothing twice.
    sim.reset()
    answers(sim)
    assert services.suite_run_resume(user=user, suite_run_id=suite_run.pk) == 30
    assert wait_until(lambda: final(suite_run), timeout=120), worker.log()
    assert suite_run.status == SuiteRun.Status.DONE
    assert current_runs(suite_run).filter(status="done").count() == 30


def test_the_spending_limit_refuses_a_suite_whose_estimate_passes_it(user, sim_models):
    UserQuota.objects.create(user=user, daily_spend_limit=Decimal("0.01"))
    suite = services.suite_create(
        user=user, name="five", cases=parse_text(CASES, filename="five.jsonl")
    )
    # 30 answers of up to 1024 tokens at 4 USD per 1M: about 0.12 USD, over 0.01.
    with pytest.raises(SuiteRefused, match=r"could cost up to \$0\.12.*limit is \$0\.01 a day"):
        services.suite_run_create(user=user, suite=suite, models=MODELS, repeats=3)
    assert not SuiteRun.objects.exists()
    assert not Run.objects.exists() and not RunCharge.objects.exists()
    # Under the limit, it starts, and reserves its whole estimate up front.
    small = services.suite_run_create(
        user=user, suite=suite, models=[ModelSpec("sim:alpha", max_tokens=10)], repeats=1
    )
    assert small.estimate is not None and small.estimate < Decimal("0.01")
    reserved = sum(
        (amount or Decimal(0) for amount in RunCharge.objects.values_list("reserved", flat=True)),
        Decimal(0),
    )
    assert reserved == small.estimate
