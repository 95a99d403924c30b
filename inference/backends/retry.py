"""The retry policy: retryable failures before the first token are retried with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

from inference.backends.base import (
    BackendError,
    Event,
    HostConfig,
    ReasoningDelta,
    Status,
    TextDelta,
)

logger = logging.getLogger("inference.backends")

Sleep = Callable[[float], Awaitable[None]]
EventStream = AsyncGenerator[Event, None]

MAX_RETRY_AFTER = 60.0  # a provider asking for a longer wait gets no retry at all


async def backoff_sleep(seconds: float) -> None:
    """The retry wait. Tests patch this (or pass `sleep=` to a backend) to stay fast."""
    await asyncio.sleep(seconds)


_CONTENT = (TextDelta, ReasoningDelta)


def retry_delay(retry: int, retry_after: float | None) -> float | None:
    """Seconds before retry number `retry` (0-based); None when the provider says not to bother.

    A provider hint up to 60 s is honoured; a longer one vetoes the retry. Otherwise
    exponential backoff min(0.5 * 2^n, 8 s) with 0.75-1.0 jitter, as the OpenAI and
    Anthropic SDKs do.
    """
    if retry_after is not None:
        if retry_after > MAX_RETRY_AFTER:
            return None
        if retry_after > 0:
            return retry_after
    return min(0.5 * 2.0**retry, 8.0) * random.uniform(0.75, 1.0)


async def with_retries(
    attempt: Callable[[float], EventStream],
    config: HostConfig,
    *,
    sleep: Sleep | None = None,
) -> EventStream:
    """Run `attempt(deadline)`, retrying retryable failures before the first token.

    `deadline` is the loop time by which the whole stream, retries included, must end.
    Before each wait a `Status("retrying")` says why and for how long. Once a text or
    reasoning delta has been yielded, any failure is final.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.total_timeout
    retry = 0
    while True:
        started = False
        try:
            async with aclosing(attempt(deadline)) as events:
                async for event in events:
                    if not started and isinstance(event, _CONTENT):
                        started = True
                    yield event
            return
        except BackendError as exc:
            if started or not exc.retryable or retry >= config.max_retries:
                raise
            delay = retry_delay(retry, exc.retry_after)
            if delay is None or loop.time() + delay >= deadline:
                raise
            error = exc
        retry += 1
        logger.warning(
            "%s; retry %d of %d in %.1f s", error.message, retry, config.max_retries, delay
        )
        yield Status("retrying", detail=f"{error.label}; retrying in {delay:.1f} s")
        await (sleep or backoff_sleep)(delay)
        # The next attempt starts now: a consumer times the first token from here.
        yield Status("waiting", detail=f"attempt {retry + 1}")
