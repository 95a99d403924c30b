"""Suites from a terminal: `suite run` (in the foreground), `suite start` (queued for the
workers) and `suite status`, through the same services and engine as the background."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from playground.conf import playground_settings
from playground.management.users import command_user
from playground.suites import engine, selectors, services
from playground.suites.conf import suite_settings
from playground.suites.models import SuiteRun
from playground.suites.parsing import SuiteFileError, parse_file
from playground.suites.services import ModelSpec, SuiteRefused
from playground.suites.tasks import run_in_process
from playground.templatetags.playground_tags import duration, usd


def suite_run_url(suite_run: SuiteRun) -> str:
    return playground_settings().base_url.rstrip("/") + reverse("suite_run", args=[suite_run.pk])


class Command(BaseCommand):
    help = "Run a suite (a CSV or JSONL file of prompts) against models, or see a run's progress."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        for name, text in (
            ("run", "run in the foreground, then print the per-model figures"),
            ("start", "queue for the workers (manage.py db_worker) and print its id"),
        ):
            sub = commands.add_parser(name, help=text)
            sub.add_argument("file", help="a .csv (with a prompt column) or .jsonl file")
            sub.add_argument("--model", action="append", default=[], help="provider:model")
            sub.add_argument("--repeat", type=int, default=1, help="1-20 (default 1)")
            sub.add_argument("--concurrency", type=int, help="answers streaming at once")
            sub.add_argument("--max-tokens", type=int)
            sub.add_argument("--temperature", type=float)
            sub.add_argument("--name", help="the suite's name (default: the file's name)")
            sub.add_argument("--seed", type=int, help="seed of the shuffled order")
            sub.add_argument("--user", help="owner (default: the first admin)")
            sub.add_argument("--json", action="store_true")
            sub.add_argument(
                "--requests-per-day", type=int, default=suite_settings().requests_per_day
            )
        status = commands.add_parser("status", help="a suite run's progress")
        status.add_argument("id", type=int)
        status.add_argument("--json", action="store_true")

    def _create(self, options: dict[str, Any]) -> SuiteRun:
        user = command_user(options["user"])
        try:
            cases = parse_file(options["file"])
        except SuiteFileError as exc:
            raise CommandError(str(exc)) from exc
        models = [
            ModelSpec(
                model=name, temperature=options["temperature"], max_tokens=options["max_tokens"]
            )
            for name in options["model"]
        ]
        try:
            # Checked before the suite is saved, so a refused run leaves no suite behind.
            if not models:
                raise SuiteRefused("Pick at least one model (--model provider:model).")
            suite = services.suite_create(
                user=user, name=options["name"] or Path(options["file"]).stem, cases=cases
            )
            return services.suite_run_create(
                user=user,
                suite=suite,
                models=models,
                repeats=options["repeat"],
                concurrency=options["concurrency"],
                seed=options["seed"],
            )
        except SuiteRefused as exc:
            raise CommandError(str(exc)) from exc

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "status":
            self._status(options["id"], as_json=options["json"])
            return
        suite_run = self._create(options)
        if action == "start":
            services.suite_run_enqueue(suite_run_id=suite_run.pk)
            if options["json"]:
                self.stdout.write(json.dumps({"id": suite_run.pk, "url": suite_run_url(suite_run)}))
            else:
                self.stdout.write(str(suite_run.pk))
            return
        self._foreground(suite_run, options)

    def _foreground(self, suite_run: SuiteRun, options: dict[str, Any]) -> None:
        units = suite_run.units.count()
        if not options["json"]:
            self.stderr.write(f"Suite run {suite_run.pk}: {units} answers…")
        while True:
            outcome, received = run_in_process(suite_run.pk)
            if received:
                services.suite_run_cancel(user=suite_run.owner, suite_run_id=suite_run.pk)
                raise CommandError(f"Stopped: suite run {suite_run.pk} cancelled.")
            if outcome == "final" or engine.is_final(suite_run_id=suite_run.pk):
                break
            time.sleep(suite_settings().poll_seconds)  # other workers hold units: wait for them
        suite_run.refresh_from_db()
        aggregates = selectors.model_aggregates(
            suite_run=suite_run, requests_per_day=options["requests_per_day"]
        )
        if options["json"]:
            result = {
                "id": suite_run.pk,
                "url": suite_run_url(suite_run),
                "units": units,
                "models": [selectors.aggregate_json(item) for item in aggregates],
            }
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        for item in aggregates:
            if item.pass_rate is not None:
                rate = f"{item.pass_rate:.0%}"
            else:
                rate = "no checks" if item.requests else "unknown"
            self.stdout.write(
                f"{item.model}: {item.requests} requests, {item.errors} errors, pass {rate}, "
                f"TTFT p50 {duration(item.ttft_p50)} p95 {duration(item.ttft_p95)}, "
                f"total p50 {duration(item.total_p50)} p95 {duration(item.total_p95)}, "
                f"cost {usd(item.cost_total)} ({usd(item.cost_per_request)} a request, "
                f"{usd(item.volume.per_day)} a day at {item.volume.requests_per_day:,})"
            )
        self.stdout.write(f"Saved: {suite_run_url(suite_run)}")

    def _status(self, suite_run_id: int, *, as_json: bool) -> None:
        suite_run = SuiteRun.objects.filter(pk=suite_run_id).first()
        if suite_run is None:
            raise CommandError(f"No suite run {suite_run_id}.")
        state = selectors.progress(suite_run=suite_run)
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "id": suite_run.pk,
                        "url": suite_run_url(suite_run),
                        "status": suite_run.status,
                        "error": suite_run.error,
                        "units": state.units,
                        "done": state.done,
                        "failed": state.failed,
                        "running": state.running,
                        "remaining": state.remaining,
                        "cancelled": state.cancelled,
                        "spent_usd": selectors.money(state.spent),
                        "estimate_usd": selectors.money(state.estimate),
                    }
                )
            )
            return
        self.stdout.write(
            f"Suite run {suite_run.pk} ({suite_run.suite}): {suite_run.status}; "
            f"{state.done} done, {state.failed} failed, {state.remaining} remaining of "
            f"{state.units}; spent {usd(state.spent)} of at most {usd(state.estimate)}"
            + (f"; {suite_run.error}" if suite_run.error else "")
        )
