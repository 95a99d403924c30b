"""The same comparison from a terminal, through the same form, services and streaming."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from argparse import ArgumentParser
from dataclasses import dataclass, field
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from rich import box
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from playground import services
from playground.conf import playground_settings
from playground.durability import process_lease
from playground.forms import CompareForm
from playground.management.users import command_user
from playground.models import Run
from playground.serialization import run_as_dict
from playground.services import ComparisonRefused, PanelStart, RunOutcome
from playground.streaming import LivePanel, run_panel
from playground.templatetags.playground_tags import duration, rate, usd

# Control characters a model could use to move the cursor or rewrite the terminal; newlines
# and tabs stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Model output as plain printable text (no escape sequences reach the terminal)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n"))


@dataclass(slots=True)
class _Progress:
    """What the terminal has seen of one panel: a cursor over its append-only parts."""

    parts_seen: int = 0
    reasoning_parts_seen: int = 0
    chars: int = 0
    reasoning_chars: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: bool = False


class ConsoleSink:
    """Each model's answer printed whole, under its label, as soon as it finishes; while any
    still streams, one live status line per model (on a terminal) says how far each is.

    Off a terminal (a pipe, a file, a test) there is no live part: only the answers and
    their metrics, in the order they finish.
    """

    def __init__(
        self,
        out: IO[str],
        *,
        quiet: bool,
        live: bool | None = None,
        width: int | None = None,
    ) -> None:
        self.quiet = quiet
        self.console = Console(file=out, highlight=False, soft_wrap=False, width=width)
        self.use_live = self.console.is_terminal if live is None else live
        self.progress: dict[int, _Progress] = {}
        self.panels: list[LivePanel] = []
        self.live: Live | None = None

    # --- the live status lines ---------------------------------------------------------

    def start(self, panels: list[LivePanel]) -> None:
        self.panels = panels
        for panel in panels:
            self.progress[panel.run_id] = _Progress()
        if self.quiet:
            return
        names = ", ".join(panel.start.model.label for panel in panels)
        self.console.print(f"[bold]Comparing {len(panels)} model(s):[/] {escape(names)}")
        if self.use_live:
            self.live = Live(
                get_renderable=self._status,
                console=self.console,
                refresh_per_second=8,
                transient=True,
            )
            self.live.start()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _status(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, style="cyan")
        table.add_column(justify="right", no_wrap=True)
        table.add_column(justify="right", no_wrap=True, style="dim")
        now = time.monotonic()
        for panel in self.panels:
            seen = self.progress[panel.run_id]
            if seen.finished:
                continue
            amount = f"{seen.chars:,} chars"
            if seen.reasoning_chars:
                amount += f" · {seen.reasoning_chars:,} thinking"
            table.add_row(
                escape(panel.start.model.label),
                escape(panel.state),
                amount,
                f"{now - seen.started:.1f} s",
            )
        return table

    # --- the PanelSink protocol -----------------------------------------------------------

    def panel_changed(self, panel: LivePanel, *, urgent: bool) -> None:
        seen = self.progress.setdefault(panel.run_id, _Progress())
        # The parts are append-only: count only the ones not seen yet.
        parts, reasoning = panel.text_parts, panel.reasoning_parts
        if len(parts) > seen.parts_seen:
            seen.chars += sum(len(part) for part in parts[seen.parts_seen :])
            seen.parts_seen = len(parts)
        if len(reasoning) > seen.reasoning_parts_seen:
            seen.reasoning_chars += sum(
                len(part) for part in reasoning[seen.reasoning_parts_seen :]
            )
            seen.reasoning_parts_seen = len(reasoning)

    async def panel_finished(self, panel: LivePanel) -> None:
        seen = self.progress.setdefault(panel.run_id, _Progress())
        seen.finished = True
        outcome = panel.outcome
        if self.quiet or outcome is None:
            return
        model = panel.start.model
        self.console.rule(
            f"[bold]{escape(model.label)}[/] [dim]{escape(model.name)}[/]", align="left"
        )
        if outcome.reasoning:
            self.console.print(Text("Thinking", style="bold dim"))
            self.console.print(Text(terminal_safe(outcome.reasoning), style="dim"))
            self.console.print()
        if outcome.text:
            self.console.print(Text(terminal_safe(outcome.text)))
        if outcome.error:
            self.console.print(Text(terminal_safe(outcome.error), style="red"))
        self.console.print(Text(metrics_line(outcome), style="dim"))
        self.console.print()


def metrics_line(outcome: RunOutcome) -> str:
    """The panel's metrics in one line, as the page shows them."""
    estimated = "~" if outcome.tokens_estimated else ""
    return (
        f"{outcome.status} · TTFT {duration(outcome.ttft_ms)} · {rate(outcome.tokens_per_s)} · "
        f"total {duration(outcome.total_ms)} · {estimated}{outcome.input_tokens:,} in / "
        f"{estimated}{outcome.output_tokens:,} out · {usd(outcome.cost)}"
    )


def summary_table(runs: list[Run]) -> Table:
    """One row per model, by label, once every answer is in."""
    table = Table(title="Summary", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("model", min_width=10)
    table.add_column("status")
    for name in ("TTFT", "speed", "total", "tokens in/out", "cost"):
        table.add_column(name, justify="right")
    for run in runs:
        estimated = "~" if run.tokens_estimated else ""
        table.add_row(
            escape(run.model_label or run.model_name),
            run.status,
            duration(run.ttft_ms),
            rate(run.tokens_per_s),
            duration(run.total_ms),
            f"{estimated}{run.input_tokens or 0:,} / {estimated}{run.output_tokens or 0:,}",
            usd(run.cost),
        )
    return table


async def stream_all(starts: list[PanelStart], sink: ConsoleSink) -> None:
    panels = [LivePanel(start=start) for start in starts]
    for panel in panels:
        panel.life.release()  # comparison_start has written the rows already
    sink.start(panels)
    tasks = [asyncio.create_task(run_panel(panel, sink)) for panel in panels]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sink.stop()


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

    def handle(self, *args: Any, **options: Any) -> None:
        user = command_user(options["user"])
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
        # Rich writes partial lines and cursor moves: give it the stream itself, not Django's
        # OutputWrapper (which would end every write with a newline).
        out = cast(IO[str], sys.stderr if options["json"] else self.stdout._out)
        # This process owns its runs while they stream, with a heartbeat, as a server does.
        with process_lease() as owner:
            try:
                starts = services.comparison_start(
                    user=user, request=form.compare_request(), owner=owner
                )
            except ComparisonRefused as exc:
                raise CommandError(str(exc)) from exc
            sink = ConsoleSink(out, quiet=options["json"])
            asyncio.run(stream_all(starts, sink))
        comparison = starts[0].run.comparison
        url = playground_settings().base_url.rstrip("/") + reverse(
            "comparison", args=[comparison.pk]
        )
        runs = list(
            Run.objects.filter(comparison=comparison, superseded=False).order_by("position")
        )
        if options["json"]:
            result = {"id": comparison.pk, "url": url, "runs": [run_json(run) for run in runs]}
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            if len(runs) > 1:
                sink.console.print(summary_table(runs))
            sink.console.print(f"Saved: {escape(url)}", soft_wrap=True)
