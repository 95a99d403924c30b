"""The same comparison from a terminal, through the same form, services and streaming."""

from __future__ import annotations

import asyncio
import json
import sys
from argparse import ArgumentParser
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.urls import reverse
from django.utils.datastructures import MultiValueDict

from playground import services
from playground.conf import playground_settings
from playground.forms import CompareForm
from playground.models import Run
from playground.serialization import run_as_dict
from playground.services import ComparisonRefused, PanelStart
from playground.streaming import LivePanel, run_panel
from playground.templatetags.playground_tags import duration, rate, usd


class ConsoleSink:
    """Prints answers as they stream, each piece prefixed by its model when the model changes."""

    def __init__(self, out: IO[str] | OutputWrapper, *, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.current: int | None = None

    def _write(self, panel: LivePanel, text: str) -> None:
        if self.current != panel.run_id:
            self.out.write(f"\n[{panel.start.model.name}] ")
            self.current = panel.run_id
        self.out.write(text)
        self.out.flush()

    def panel_changed(self, panel: LivePanel, *, urgent: bool) -> None:
        text, reasoning = panel.take_unsent()
        if self.quiet:
            return
        if reasoning:
            self._write(panel, reasoning)
        if text:
            self._write(panel, text)

    async def panel_finished(self, panel: LivePanel) -> None:
        outcome = panel.outcome
        if self.quiet or outcome is None:
            return
        self.current = None
        detail = f": {outcome.error}" if outcome.error else ""
        estimated = "~" if outcome.tokens_estimated else ""
        self.out.write(
            f"\n[{panel.start.model.name}] {outcome.status}{detail} · TTFT "
            f"{duration(outcome.ttft_ms)} · {rate(outcome.tokens_per_s)} · total "
            f"{duration(outcome.total_ms)} · {estimated}{outcome.input_tokens} in / "
            f"{estimated}{outcome.output_tokens} out · {usd(outcome.cost)}\n"
        )
        self.out.flush()


async def stream_all(starts: list[PanelStart], sink: ConsoleSink) -> None:
    panels = [LivePanel(start=start) for start in starts]
    for panel in panels:
        panel.created.set()  # comparison_start has written the rows already
    tasks = [asyncio.create_task(run_panel(panel, sink)) for panel in panels]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_json(run: Run) -> dict[str, Any]:
    """The same serialisation (and field names) as the exports."""
    return run_as_dict(run)


class Command(BaseCommand):
    help = "Send one prompt to several models, stream the answers, and save the comparison."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("prompt")
        parser.add_argument(
            "--model", action="append", default=[], help="provider:model; repeat for each panel"
        )
        parser.add_argument("--system", default="")
        parser.add_argument("--max-tokens", type=int)
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--user", help="owner of the comparison (default: the first admin)")
        parser.add_argument("--json", action="store_true", help="print one JSON object at the end")

    def _user(self, username: str | None) -> AbstractBaseUser:
        users = get_user_model().objects
        if username:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
            return user
        user = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError("No admin user yet: run `make run` once, or pass --user NAME.")
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options["user"])
        data: MultiValueDict[str, str] = MultiValueDict()
        data["prompt"] = options["prompt"]
        data["system"] = options["system"]
        data.setlist("models", options["model"])
        data["same_settings"] = "on"
        if options["max_tokens"] is not None:
            data["max_tokens"] = str(options["max_tokens"])
        if options["temperature"] is not None:
            data["temperature"] = str(options["temperature"])
        form = CompareForm(data)
        if not form.is_valid():
            raise CommandError(form.error_text())
        try:
            starts = services.comparison_start(user=user, request=form.compare_request())
        except ComparisonRefused as exc:
            raise CommandError(str(exc)) from exc
        sink = ConsoleSink(
            self.stdout if not options["json"] else sys.stderr, quiet=options["json"]
        )
        asyncio.run(stream_all(starts, sink))
        comparison = starts[0].run.comparison
        url = playground_settings().base_url.rstrip("/") + reverse(
            "comparison", args=[comparison.pk]
        )
        if options["json"]:
            runs = Run.objects.filter(comparison=comparison, superseded=False).order_by("position")
            result = {"id": comparison.pk, "url": url, "runs": [run_json(run) for run in runs]}
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            self.stdout.write(f"\nSaved: {url}\n")
