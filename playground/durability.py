"""Writes that keep runs durable while they stream: process heartbeats, checkpoints, sweeps.

Every process that streams runs has a `ServerProcess` row and refreshes its heartbeat; each
run names its owner. A run whose owner is gone (no row) or silent (stale heartbeat) can no
longer finish, so the sweeper turns it into `interrupted` with its last checkpoint and an
estimated cost. A live process's runs are never touched: only stale owners are swept.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from inference.backends.base import Message
from inference.pricing import PriceSnapshot, TokenCounts, run_cost
from inference.tokens import count_prompt_tokens, count_tokens
from playground.conf import playground_settings
from playground.models import Comparison, Run, ServerProcess

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a streaming run's text and reasoning gained since its last checkpoint."""

    run_id: int
    text_added: str
    reasoning_added: str


def process_register(*, process_id: str, hostname: str, pid: int) -> None:
    now = timezone.now()
    ServerProcess.objects.update_or_create(
        id=process_id,
        defaults={"hostname": hostname, "pid": pid, "heartbeat": now},
        create_defaults={"hostname": hostname, "pid": pid, "heartbeat": now, "started": now},
    )


def process_heartbeat(*, process_id: str, hostname: str, pid: int) -> None:
    """Say this process is alive (re-registering it if a sweeper removed it)."""
    if not ServerProcess.objects.filter(id=process_id).update(heartbeat=timezone.now()):
        process_register(process_id=process_id, hostname=hostname, pid=pid)


def process_retire(*, process_id: str) -> None:
    """A clean exit: every run was saved, so the row can go."""
    ServerProcess.objects.filter(id=process_id).delete()


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """How a process that streams runs names itself: unique even when a pid is reused."""

    process_id: str
    hostname: str
    pid: int

    @classmethod
    def new(cls) -> ProcessIdentity:
        hostname, pid = socket.gethostname()[:200], os.getpid()
        return cls(f"{hostname[:40]}:{pid}:{uuid.uuid4().hex[:12]}", hostname, pid)


@contextmanager
def process_lease() -> Iterator[str]:
    """A process row kept alive by a heartbeat thread, for streaming outside a server
    (the terminal command); retired at the end. Yields the owner id for the runs."""
    limits = playground_settings()
    identity = ProcessIdentity.new()
    process_id, hostname, pid = identity.process_id, identity.hostname, identity.pid
    process_register(process_id=process_id, hostname=hostname, pid=pid)
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(limits.heartbeat_seconds):
                try:
                    process_heartbeat(process_id=process_id, hostname=hostname, pid=pid)
                except DatabaseError:
                    logger.warning("Heartbeat failed", exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield process_id
    finally:
        stop.set()
        thread.join()
        process_retire(process_id=process_id)


def runs_checkpoint(*, checkpoints: Sequence[Checkpoint]) -> int:
    """Append what many runs gained to their rows in one UPDATE (a row starts empty and
    only grows while it streams); finished runs are left alone."""
    if not checkpoints:
        return 0
    ids = [c.run_id for c in checkpoints]

    def appended(column: str, added: Callable[[Checkpoint], str]) -> Case:
        return Case(
            *[
                When(pk=c.run_id, then=Concat(F(column), Value(added(c))))
                for c in checkpoints
                if added(c)
            ],
            default=F(column),
            output_field=TextField(),
        )

    text = appended("text", lambda c: c.text_added)
    reasoning = appended("reasoning", lambda c: c.reasoning_added)
    return Run.objects.filter(pk__in=ids, status__in=Run.LIVE_STATUSES).update(
        text=text, reasoning=reasoning, status=Run.Status.STREAMING, checkpointed=timezone.now()
    )


def _input_tokens(run: Run, comparison: Comparison) -> int:
    """The prompt as that panel sent it: the system prompt, its own earlier turns, the turn.

    A suite run's turns are separate cases, not a conversation: no history there.
    """
    if hasattr(comparison, "suite_run"):
        prompt = (Message(role="user", content=run.turn.prompt),)
        return count_prompt_tokens(comparison.system_prompt or None, prompt)
    earlier = Run.objects.filter(
        comparison=comparison,
        position=run.position,
        superseded=False,
        turn__index__lt=run.turn.index,
    ).select_related("turn")
    messages: list[Message] = []
    for previous in earlier.order_by("turn__index"):
        messages.append(Message(role="user", content=previous.turn.prompt))
        messages.append(Message(role="assistant", content=previous.text))
    messages.append(Message(role="user", content=run.turn.prompt))
    return count_prompt_tokens(comparison.system_prompt or None, tuple(messages))


def _interrupt(run: Run, now: dt.datetime) -> bool:
    """Turn one orphaned run into `interrupted`, with estimated tokens and cost."""
    input_tokens = _input_tokens(run, run.comparison)
    reasoning_tokens = count_tokens(run.reasoning) if run.reasoning else 0
    output_tokens = (count_tokens(run.text) if run.text else 0) + reasoning_tokens
    prices = PriceSnapshot.from_json(run.prices)
    cost = run_cost(
        TokenCounts(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            reasoning_tokens=reasoning_tokens,
        ),
        prices,
    )
    if prices.gpu_hour is not None:
        cost = None  # GPU time was not measured: no honest figure
    source = Run.CostSource.UNKNOWN if cost is None else Run.CostSource.ESTIMATED
    return bool(
        Run.objects.filter(pk=run.pk, status__in=Run.LIVE_STATUSES).update(
            status=Run.Status.INTERRUPTED,
            error="The server stopped while this answer streamed; the text is as last saved.",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            reasoning_tokens=reasoning_tokens,
            cached_tokens=0,
            tokens_estimated=True,
            cost=cost,
            cost_source=source,
            finished=now,
        )
    )


def sweep_interrupted(*, stale_after: dt.timedelta, live_process: str = "") -> int:
    """Interrupt the runs whose owner is gone or silent; returns how many were swept.

    Safe to run in several processes at once: each update only applies to a run still
    pending or streaming, and `live_process` (the caller) is never swept.
    """
    now = timezone.now()
    alive = ServerProcess.objects.filter(heartbeat__gte=now - stale_after).values("id")
    orphaned = (
        Run.objects.filter(status__in=Run.LIVE_STATUSES)
        .exclude(owner__in=alive)
        .exclude(Q(owner=live_process) & ~Q(owner=""))
        .select_related("comparison", "turn")
    )
    swept = 0
    for run in orphaned.iterator(chunk_size=200):
        with transaction.atomic():
            swept += _interrupt(run, now)
    if swept:
        logger.warning("Marked %s runs of stopped processes as interrupted", swept)
    ServerProcess.objects.filter(heartbeat__lt=now - stale_after).delete()
    return swept
