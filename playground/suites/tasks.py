"""The background task: one driver per suite run, run by `manage.py db_worker`.

Why a driver per suite run rather than a task per unit: db_worker runs one task at a time,
so a task per unit would make concurrency equal to the number of worker processes and leave
the run's caps and interleaving to chance. A driver streams up to the run's caps at once on
one event loop; claims are per unit (see playground.suites.engine), so several drivers, in
several workers, share one run safely.

A worker killed mid-run leaves its task "running" in the queue forever, so every driver
first queues its successor, due `recheck_seconds` later: whichever worker takes it picks up
what the dead one left (its units, once its heartbeat is stale, are queued again). The
chain ends when the run is final.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os

from django.utils import timezone
from django_tasks import task

from playground.durability import process_lease
from playground.suites import engine
from playground.suites.conf import suite_settings


def enqueue_successor(suite_run_id: int) -> None:
    due = timezone.now() + dt.timedelta(seconds=suite_settings().recheck_seconds)
    drive_suite_run.using(run_after=due).enqueue(suite_run_id)


def run_in_process(suite_run_id: int) -> tuple[str, list[int]]:
    """Drive the run in this process until nothing is left here to claim; returns the
    driver's outcome and the signals (SIGINT, SIGTERM) that stopped it, if any."""

    async def main(owner: str) -> tuple[str, list[int]]:
        stop = asyncio.Event()
        with engine.stop_on_signals(asyncio.get_running_loop(), stop) as received:
            outcome = await engine.drive(suite_run_id, owner, stop)
        return outcome, received

    # The lease (a heartbeat thread) names this process as the owner of its runs and units.
    with process_lease() as owner:
        return asyncio.run(main(owner))


@task()
def drive_suite_run(suite_run_id: int) -> str:
    if engine.is_final(suite_run_id=suite_run_id):
        return "final"
    enqueue_successor(suite_run_id)
    outcome, received = run_in_process(suite_run_id)
    if received:
        # Hand the (first) signal on to db_worker: it stops after this task, as it would have.
        os.kill(os.getpid(), received[0])
    return outcome
