"""HTML for the board: whole panels (at start and finish) from templates, and the per-frame
deltas as plain escaped strings (the hot path renders no template)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from html import escape
from typing import Any

from django.template.loader import render_to_string

from playground.arena import blinding
from playground.arena.blinding import BlindView
from playground.models import Comparison, Run, Turn
from playground.rendering import render_markdown

STATE_LABELS: dict[str, str] = {
    Run.Status.PENDING: "waiting",
    Run.Status.STREAMING: "streaming",
    Run.Status.DONE: "done",
    Run.Status.ERROR: "error",
    Run.Status.STOPPED: "stopped",
    Run.Status.INTERRUPTED: "interrupted",
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One model's bar in a summary chart; width is 0-100 (SVG user units).

    `status` is "" for a run that finished; otherwise the run's state ("error", "stopped",
    "interrupted"): such a bar is shown, marked, and never best.
    """

    label: str
    value_text: str
    width: float
    best: bool
    status: str = ""


@dataclass(frozen=True, slots=True)
class SummaryChart:
    """One metric compared across the panels of a turn."""

    title: str
    hint: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class PanelView:
    """A run as a panel shows it: final panels carry their rendered Markdown."""

    run: Run
    final: bool
    state: str
    answer_html: str

    @classmethod
    def of(cls, run: Run, *, live: bool = False) -> PanelView:
        final = run.is_final and not live
        state = STATE_LABELS.get(run.status, run.status)
        return cls(
            run=run,
            final=final,
            state=state,
            answer_html=render_markdown(run.text) if final and run.text else "",
        )


@dataclass(frozen=True)
class TurnView:
    """One turn of a comparison: its prompt, its panels and, once all are final, a summary.

    `total_cost` sums the runs whose cost is known; `unknown_costs` counts those left out.
    `blind` is set for a battle not voted on yet: its runs are then anonymous copies.
    """

    turn: Turn
    runs: tuple[Run, ...]
    charts: tuple[SummaryChart, ...]
    total_cost: Decimal | None
    finished: bool
    unknown_costs: int = 0
    blind: BlindView | None = None

    @cached_property
    def panels(self) -> tuple[PanelView, ...]:
        """Rendered only when a page shows the panels (a summary alone needs no Markdown)."""
        return tuple(PanelView.of(run) for run in self.runs)

    @cached_property
    def not_done(self) -> tuple[tuple[str, int], ...]:
        """How many runs ended otherwise than done, by state: (("error", 1), ...)."""
        counts: dict[str, int] = {}
        for run in self.runs:
            if run.status != Run.Status.DONE:
                label = STATE_LABELS.get(run.status, run.status)
                counts[label] = counts.get(label, 0) + 1
        return tuple(counts.items())


def _chart(
    title: str,
    runs: Sequence[Run],
    value: str,
    fmt: str,
    *,
    higher_is_better: bool = False,
) -> SummaryChart | None:
    """A bar per run. Only runs that finished (`done`) compete for best, and only when two or
    more have the figure; every run tied with the best (the same figure as shown) is best.
    Runs that failed, stopped or were interrupted keep their bar, marked with their state."""
    from playground.templatetags.playground_tags import MISSING, cost_text, duration, rate, usd

    number = {"duration": duration, "rate": rate, "usd": usd}[fmt]

    def shown(run: Run, raw: Any) -> str:
        return cost_text(raw, run.cost_source) if fmt == "usd" else number(raw)

    points = [(run, getattr(run, value)) for run in runs]
    known = [(run, float(raw)) for run, raw in points if raw is not None]
    if not known:
        return None
    top = max(v for _, v in known) or 1.0
    competing = [(run, v) for run, v in known if run.status == Run.Status.DONE]
    best_value: float | None = None
    if len(competing) > 1:
        values = [v for _, v in competing]
        best_value = max(values) if higher_is_better else min(values)
    bars = []
    for run, raw in points:
        status = "" if run.status == Run.Status.DONE else STATE_LABELS.get(run.status, run.status)
        if raw is None:
            bars.append(Bar(run.model_label, status or MISSING, 0.0, False, status))
            continue
        text = shown(run, raw)
        best = (
            not status
            and best_value is not None
            and (float(raw) == best_value or number(raw) == number(best_value))
        )
        bars.append(
            Bar(
                label=run.model_label,
                value_text=f"{text} · {status}" if status else text,
                width=round(max(float(raw) / top * 100, 0.5), 2),
                best=best,
                status=status,
            )
        )
    hint = "higher is better" if higher_is_better else "lower is better"
    return SummaryChart(title=title, hint=hint, bars=tuple(bars))


def summary_charts(runs: Sequence[Run]) -> tuple[SummaryChart, ...]:
    charts = (
        _chart("Time to first token", runs, "ttft_ms", "duration"),
        _chart("Decode speed", runs, "tokens_per_s", "rate", higher_is_better=True),
        _chart("Total time", runs, "total_ms", "duration"),
        _chart("Cost", runs, "cost", "usd"),
    )
    return tuple(chart for chart in charts if chart is not None)


def turn_views(
    turns: Iterable[Turn], runs: Iterable[Run], *, blind: BlindView | None = None
) -> list[TurnView]:
    """Each turn with its current runs, in panel order, and its summary once all are final;
    with `blind`, as a battle's viewer may see them before the vote."""
    by_turn: dict[int, list[Run]] = {}
    for run in blinding.shown_runs(runs, blind):
        by_turn.setdefault(run.turn_id, []).append(run)
    views = []
    for turn in turns:
        turn_runs = sorted(by_turn.get(turn.pk, []), key=lambda r: r.position)
        finished = bool(turn_runs) and all(run.is_final for run in turn_runs)
        costs = [run.cost for run in turn_runs if run.cost is not None]
        views.append(
            TurnView(
                turn=turn,
                runs=tuple(turn_runs),
                charts=summary_charts(turn_runs) if finished else (),
                total_cost=sum(costs, Decimal(0)) if costs else None,
                finished=finished,
                unknown_costs=len(turn_runs) - len(costs),
                blind=blind,
            )
        )
    return views


def render_run(
    run: Run,
    *,
    controls: bool,
    replaces: int | None = None,
    live: bool = False,
    blind: BlindView | None = None,
    error_note: str = "",
) -> str:
    """One panel; `replaces` swaps it out of band for the panel of another run id; `blind`
    shows a battle's panel as its viewer may see it before the vote."""
    run = blinding.shown_run(run, blind)
    if error_note:
        run.error = f"{run.error} {error_note}" if run.error else error_note
    panel = PanelView.of(run, live=live)
    return render_to_string(
        "playground/_run.html",
        {
            "run": run,
            "final": panel.final,
            "state": panel.state,
            "answer_html": panel.answer_html,
            "controls": controls,
            "replaces": replaces,
            "blind": blind,
        },
    )


def render_turn(view: TurnView, *, controls: bool, oob: str = "") -> str:
    return render_to_string(
        "playground/_turn.html", {"view": view, "controls": controls, "oob": oob}
    )


def render_summary(view: TurnView) -> str:
    return render_to_string("playground/_summary.html", {"view": view, "oob": True})


def render_board_head(comparison: Comparison, *, live: bool, blind: BlindView | None = None) -> str:
    return render_to_string(
        "playground/_board_head.html",
        {"comparison": comparison, "live": live, "oob": True, "blind": blind},
    )


def render_vote_bar(blind: BlindView | None, *, ready: bool) -> str:
    """The battle's vote bar (out of band), once every answer is final; empty otherwise."""
    if blind is None:
        return ""
    return render_to_string(
        "arena/_vote.html", {"blind": blind, "ready": ready, "oob": True, "categories": ()}
    )


def notice(message: str, *, level: str = "error") -> str:
    """A message above the board (validation errors, refusals)."""
    role = "alert" if level == "error" else "status"
    return (
        f'<div id="notice" class="notice notice-{level}" role="{role}" hx-swap-oob="true">'
        f"{escape(message)}</div>"
    )


def clear_notice() -> str:
    return '<div id="notice" class="notice" role="status" hx-swap-oob="true"></div>'


def delta(run_id: int, text: str, reasoning: str) -> str:
    """New text for one panel, escaped, appended by htmx's out-of-band swap."""
    parts = []
    if reasoning:
        parts.append(
            f'<span hx-swap-oob="beforeend:#r-{run_id}">{escape(reasoning, quote=False)}</span>'
        )
    if text:
        parts.append(
            f'<span hx-swap-oob="beforeend:#t-{run_id}">{escape(text, quote=False)}</span>'
        )
    return "".join(parts)


def state(run_id: int, label: str, detail: str = "") -> str:
    suffix = f" · {escape(detail)}" if detail else ""
    return (
        f'<p class="panel-state state-{escape(label.split()[0])}" id="s-{run_id}" '
        f'hx-swap-oob="true">{escape(label)}{suffix}</p>'
    )


def finished_frame(
    *,
    run: Run,
    turn_runs: Sequence[Run],
    save_failed: bool,
    idle_comparison: Comparison | None,
    blind: BlindView | None = None,
) -> str:
    """A run's final panel; its turn's summary once every panel is final; and, when nothing
    streams any more, the board's head without "Stop all" (and a battle's vote bar)."""
    note = "This result could not be saved (the database was unreachable)." if save_failed else ""
    parts = [render_run(run, controls=True, replaces=run.pk, blind=blind, error_note=note)]
    if all(other.is_final for other in turn_runs):
        parts.append(render_summary(turn_views([run.turn], turn_runs, blind=blind)[0]))
    if idle_comparison is not None:
        parts.append(render_board_head(idle_comparison, live=False, blind=blind))
        parts.append(render_vote_bar(blind, ready=True))
    return "".join(parts)


def board_snapshot(
    comparison: Comparison,
    turns: Sequence[Turn],
    runs: Sequence[Run],
    streaming: bool,
    blind: BlindView | None = None,
) -> str:
    """The whole board as it is now, for a page that (re)attaches to its comparison."""
    views = turn_views(turns, runs, blind=blind)
    board = "".join(render_turn(view, controls=True) for view in views)
    ready = not streaming and all(run.is_final for run in runs)
    return (
        render_board_head(comparison, live=streaming, blind=blind)
        + f'<div id="turns" hx-swap-oob="innerHTML">{board}</div>'
        + render_vote_bar(blind, ready=ready)
    )
