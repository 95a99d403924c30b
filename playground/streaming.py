"""The fan-out: one task per panel, streaming its model into a LivePanel, then one save.

Nothing here touches the database per token: the panel's text lives in memory until the
run ends, when services.run_finish writes it in one UPDATE. The sink (the websocket's
coalescing sender, or the terminal) is told when a panel changed and when it is done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, assert_never

from channels.db import database_sync_to_async
from django.db import DatabaseError, InterfaceError
from django.utils import timezone

from inference.backends import backend_for
from inference.backends.base import (
    BackendError,
    CountsStoppedRuns,
    Finish,
    ReasoningDelta,
    Status,
    TextDelta,
    Usage,
)
from inference.pricing import TokenCounts, run_cost
from inference.tokens import count_prompt_tokens, count_tokens
from playground.conf import playground_settings
from playground.models import Run
from playground.services import PanelStart, RunOutcome, outcome_fields, run_finish

logger = logging.getLogger(__name__)


class PanelSink(Protocol):
    """Where a live panel's progress goes: a websocket, or a terminal."""

    def panel_changed(self, panel: LivePanel, *, urgent: bool) -> None:
        """New text or a new state; `urgent` asks for it to go out at once."""

    async def panel_finished(self, panel: LivePanel) -> None:
        """The run ended and its result is saved (or could not be)."""


TIMELINE_STEP_SECONDS = 0.03  # replay resolution: about one point per coalesced frame


class Phase(enum.Enum):
    """Where a live panel is in its life."""

    STREAMING = "streaming"  # the upstream stream is open (its row may not exist yet)
    SAVING = "saving"  # the stream is over; its result is being saved
    ENDED = "ended"  # saved (or the save failed for good)
    DISCARDED = "discarded"  # its start was never saved: nothing to keep


@dataclass(eq=False, slots=True)
class PanelLife:
    """A live panel's lifecycle, the one place that says where it is: streaming, saving,
    ended or discarded, and whether its row is out (the board showing it went to the page,
    so its deltas may follow and its result be saved)."""

    phase: Phase = Phase.STREAMING
    _out: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def streaming(self) -> bool:
        return self.phase is Phase.STREAMING

    @property
    def discarded(self) -> bool:
        return self.phase is Phase.DISCARDED

    @property
    def released(self) -> bool:
        """Its row exists and was shown: deltas may go out."""
        return self._out.is_set() and not self.discarded

    def release(self) -> None:
        self._out.set()

    def discard(self) -> None:
        self.phase = Phase.DISCARDED
        self._out.set()  # wakes a panel already waiting to save: it will not

    async def wait_released(self) -> None:
        await self._out.wait()

    def stream_ended(self) -> None:
        if self.phase is Phase.STREAMING:
            self.phase = Phase.SAVING

    def saved(self) -> None:
        if self.phase is Phase.SAVING:
            self.phase = Phase.ENDED


@dataclass(eq=False, slots=True)
class LivePanel:
    """One run while it streams: its text so far and its clock.

    The text and reasoning are append-only lists of deltas, so each socket attached to the
    comparison keeps its own cursor into them (see playground.live.SocketSink).
    """

    start: PanelStart
    state: str = "waiting"
    state_detail: str = ""
    text_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    text_len: int = 0
    reasoning_len: int = 0
    started_wall: float = field(default_factory=time.time)
    clock_start: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    first_answer_at: float | None = None
    last_token_at: float | None = None
    ended_at: float | None = None
    retries: int = 0
    retry_wait: float = 0.0  # seconds spent on refused attempts and their backoff
    retrying: bool = False
    usage: Usage | None = None
    finish: Finish | None = None
    backend: object = None
    error: str = ""
    error_detail: str = ""
    status: str = Run.Status.STREAMING
    note: str = ""
    save_failed: bool = False
    timeline: list[list[float]] = field(default_factory=list)
    outcome: RunOutcome | None = None
    life: PanelLife = field(default_factory=PanelLife)
    checkpointed: tuple[int, int] | None = None  # text and reasoning deltas written so far
    _last_point: float = 0.0

    @property
    def run_id(self) -> int:
        return self.start.run.pk

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    def set_state(self, state: str, detail: str = "") -> None:
        self.state, self.state_detail = state, detail

    def note_progress(self, now: float) -> None:
        """Record, about once a frame, how far the text had come (for replay)."""
        if now - self._last_point >= TIMELINE_STEP_SECONDS or not self.timeline:
            self._last_point = now
            elapsed_ms = round((now - self.clock_start) * 1000, 1)
            self.timeline.append([elapsed_ms, self.text_len, self.reasoning_len])

    def close_timeline(self) -> None:
        last = self.timeline[-1] if self.timeline else None
        if last is None or last[1:] != [self.text_len, self.reasoning_len]:
            self._last_point = 0.0
            self.note_progress(self.last_token_at or time.monotonic())


def _token(panel: LivePanel, now: float) -> bool:
    """Note a token's arrival; True when it is the panel's first."""
    first = panel.first_token_at is None
    if first:
        panel.first_token_at = now
    panel.last_token_at = now
    return first


async def stream_panel(panel: LivePanel, sink: PanelSink) -> None:
    """Stream one model into its panel. Raises CancelledError when stopped."""
    start = panel.start
    backend = panel.backend = backend_for(start.model.host)
    panel.clock_start = time.monotonic()
    panel.set_state("waiting")
    sink.panel_changed(panel, urgent=True)
    try:
        # Backends are async generators: closing one closes its HTTP response at once.
        async with aclosing(backend.stream(start.request)) as events:
            async for event in events:
                now = time.monotonic()
                match event:
                    case TextDelta(text=text):
                        if not text:
                            continue
                        first = _token(panel, now)
                        if panel.first_answer_at is None:
                            panel.first_answer_at = now
                            panel.set_state("streaming")
                            first = True
                        panel.text_parts.append(text)
                        panel.text_len += len(text)
                        panel.note_progress(now)
                        sink.panel_changed(panel, urgent=first)
                    case ReasoningDelta(text=text):
                        if not text:
                            continue
                        first = _token(panel, now)
                        if first:
                            panel.set_state("thinking")
                        panel.reasoning_parts.append(text)
                        panel.reasoning_len += len(text)
                        panel.note_progress(now)
                        sink.panel_changed(panel, urgent=first)
                    case Usage():
                        panel.usage = event
                    case Finish():
                        panel.finish = event
                    case Status(state=state, position=position, detail=detail):
                        if state == "generating":
                            # Queueing and loading are not the model's latency.
                            panel.clock_start = now
                            if detail:
                                panel.note = detail
                        elif state == "retrying":
                            panel.retries += 1
                            panel.retrying = True
                        elif panel.retrying:
                            # The next attempt begins: time to first token counts from here;
                            # the refused attempts and their backoff are reported apart.
                            panel.retrying = False
                            panel.retry_wait += now - panel.clock_start
                            panel.clock_start = now
                        label = f"queued #{position}" if state == "queued" and position else state
                        panel.set_state(label, detail)
                        sink.panel_changed(panel, urgent=True)
                    case _:
                        assert_never(event)
        panel.status = Run.Status.DONE
    except BackendError as exc:
        panel.status = Run.Status.ERROR
        panel.error = exc.message
        panel.error_detail = exc.detail
    finally:
        panel.ended_at = time.monotonic()
        panel.close_timeline()


def _decode_rate(panel: LivePanel, output_tokens: int, hidden_reasoning: int) -> float | None:
    """Output tokens after the first, over the time after the first."""
    if panel.first_token_at is None or panel.last_token_at is None:
        return None
    visible = output_tokens - hidden_reasoning
    seconds = panel.last_token_at - panel.first_token_at
    if visible < 2 or seconds <= 0:
        return None
    return round((visible - 1) / seconds, 2)


def not_billed(panel: LivePanel) -> bool:
    """A failure before the first token, with no usage reported: nothing was generated."""
    return (
        panel.status == Run.Status.ERROR
        and panel.first_token_at is None
        and panel.usage is None
        and not panel.text_parts
    )


def build_outcome(panel: LivePanel) -> RunOutcome:
    """Metrics, tokens and cost of a panel that has ended, whatever way it ended."""
    start = panel.start
    ended = panel.ended_at or time.monotonic()
    text, reasoning = panel.text, panel.reasoning
    usage = panel.usage
    if usage is None and isinstance(panel.backend, CountsStoppedRuns):
        usage = panel.backend.partial_usage
    exact = usage is not None and usage.input_tokens is not None and usage.output_tokens is not None
    if exact and usage is not None:
        input_tokens = usage.input_tokens or 0
        output_tokens = usage.output_tokens or 0
        cached, reasoning_tokens = usage.cached_input_tokens, usage.reasoning_tokens
        gpu_seconds = usage.gpu_seconds
    else:
        input_tokens = count_prompt_tokens(start.request.system, start.request.messages)
        reasoning_tokens = count_tokens(reasoning) if reasoning else 0
        output_tokens = count_tokens(text) + reasoning_tokens
        cached = 0
        gpu_seconds = None
    if start.model.kind == "local" and gpu_seconds is None:
        gpu_seconds = round(ended - panel.clock_start, 4)
    hidden_reasoning = reasoning_tokens if (reasoning_tokens and not reasoning) else 0
    counts = TokenCounts(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached,
        reasoning_tokens=reasoning_tokens,
        gpu_seconds=gpu_seconds,
    )
    cost = run_cost(counts, start.model.prices)
    if not_billed(panel):
        # Refused before anything was generated (a 401, a 429 after its retries): providers
        # bill nothing for that, so no estimated input is charged either.
        cost, source = Decimal(0), Run.CostSource.NOT_BILLED
        input_tokens = output_tokens = 0
    elif cost is None:
        source = Run.CostSource.UNKNOWN
    elif start.model.prices.gpu_hour is not None:
        source = Run.CostSource.GPU_TIME
    else:
        source = Run.CostSource.PROVIDER if exact else Run.CostSource.ESTIMATED

    def ms(moment: float | None) -> float | None:
        return None if moment is None else round((moment - panel.clock_start) * 1000, 1)

    notes = [panel.note] if panel.note else []
    return RunOutcome(
        status=panel.status,
        text=text,
        reasoning=reasoning,
        error=panel.error,
        error_detail=panel.error_detail,
        finish_reason=panel.finish.reason if panel.finish else "",
        note="; ".join(notes)[:200],
        ttft_ms=ms(panel.first_token_at),
        answer_ttft_ms=ms(panel.first_answer_at) if reasoning or hidden_reasoning else None,
        total_ms=ms(ended),
        tokens_per_s=_decode_rate(panel, output_tokens, hidden_reasoning),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached,
        reasoning_tokens=reasoning_tokens,
        tokens_estimated=not exact and source != Run.CostSource.NOT_BILLED,
        gpu_seconds=gpu_seconds,
        cost=cost,
        cost_source=source,
        retries=panel.retries,
        retry_wait_ms=round(panel.retry_wait * 1000, 1) if panel.retries else None,
        timeline=panel.timeline,
        started=dt.datetime.fromtimestamp(panel.started_wall, tz=dt.UTC),
        finished=timezone.now(),
    )


async def save_outcome(run_id: int, outcome: RunOutcome) -> bool:
    """Write the result, retrying while the database is unreachable. False if it never was."""
    limits = playground_settings()
    save = database_sync_to_async(run_finish)
    for attempt in range(1, limits.save_attempts + 1):
        try:
            await save(run_id=run_id, outcome=outcome)
            return True
        except (DatabaseError, InterfaceError):
            logger.warning("Saving run %s failed (attempt %s)", run_id, attempt, exc_info=True)
            if attempt < limits.save_attempts:
                await asyncio.sleep(limits.save_retry_seconds * attempt)
    logger.error("Run %s could not be saved after %s attempts", run_id, limits.save_attempts)
    return False


def apply_outcome(run: Run, outcome: RunOutcome) -> Run:
    """The run as saved (in memory): its row fields set from the outcome."""
    for name, value in outcome_fields(outcome).items():
        setattr(run, name, value)
    return run


async def _finish(panel: LivePanel, sink: PanelSink) -> None:
    await panel.life.wait_released()
    if panel.life.discarded:
        return
    panel.set_state(panel.status)
    panel.outcome = build_outcome(panel)
    panel.save_failed = not await save_outcome(panel.run_id, panel.outcome)
    apply_outcome(panel.start.run, panel.outcome)
    panel.life.saved()
    await sink.panel_finished(panel)


async def run_panel(panel: LivePanel, sink: PanelSink) -> None:
    """Stream, then save whatever there is: done, failed, or stopped part-way."""
    try:
        await stream_panel(panel, sink)
    except asyncio.CancelledError:
        # A stop or a closed socket: keep the partial text, tokens and cost.
        panel.status = Run.Status.STOPPED
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
    except Exception:
        logger.exception("Run %s failed unexpectedly", panel.start.model.name)
        panel.status = Run.Status.ERROR
        panel.error = "Internal error while streaming (logged on the server)."
    panel.life.stream_ended()
    if panel.life.discarded:
        return
    # Saving must not be cut short: a cancelled, queued database call never runs.
    await asyncio.shield(asyncio.ensure_future(_finish(panel, sink)))
