"""One `generate` on the device's worker thread, bridged to the event loop.

The worker runs `generate` with a streamer that only keeps the new token ids and posts them
to the loop with `call_soon_threadsafe`: the only host-device sync per token is the copy of
the token that `generate` makes to emit it. The loop turns ids into text (`IncrementalDecoder`)
while the device computes the next token. Cancelling sets a `threading.Event` that a stopping
criterion reads after every decoding step, without touching the device: it answers with one
of two flags made once per generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from inference.backends.local.acceleration import WARMUP_STEPS, Acceleration
from inference.backends.local.devices import Job, device_workers, synchronize
from inference.backends.local.gate import Ticket
from inference.backends.local.runtime import runtime

if TYPE_CHECKING:
    from inference.backends.local.loading import LoadedModel

REPLACEMENT_CHARACTER = "\ufffd"  # what a cut-off UTF-8 sequence decodes to


class IncrementalDecoder:
    """The text of a growing list of token ids, piece by piece, each piece once it is settled.

    Each step decodes a short window (the ids since the last piece, after a few earlier ones
    for context such as a leading space), not everything so far. Text that ends in a cut-off
    character waits for the next ids. `flush` gives what the full decode has beyond the pieces.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix = 0  # the window's context starts here
        self._read = 0  # and its new part here
        self._emitted: list[str] = []

    def add(self, ids: list[int]) -> str:
        self.ids.extend(ids)
        before = self._decode(self.ids[self._prefix : self._read])
        now = self._decode(self.ids[self._prefix :])
        if len(now) <= len(before) or now.endswith(REPLACEMENT_CHARACTER):
            return ""
        piece = now[len(before) :]
        self._prefix, self._read = self._read, len(self.ids)
        self._emitted.append(piece)
        return piece

    def flush(self) -> str:
        emitted = "".join(self._emitted)
        full = self._decode(self.ids)
        if full.startswith(emitted):
            rest = full[len(emitted) :]
        else:  # a window decoded differently from the whole: give its pending part
            before = self._decode(self.ids[self._prefix : self._read])
            now = self._decode(self.ids[self._prefix :])
            rest = now[len(before) :] if now.startswith(before) else ""
        self._prefix = self._read = len(self.ids)
        if rest:
            self._emitted.append(rest)
        return rest

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        text: str = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text


@dataclass(frozen=True, slots=True)
class _Classes:
    streamer: Any  # an IdStreamer: keeps the new ids and hands each batch to a callback
    cancel: Any  # a CancelCriterion: stops `generate` at the next step once the flag is set


@functools.cache
def _classes() -> _Classes:
    """Subclasses of transformers' streamer and stopping criterion (made on first use)."""
    rt = runtime()
    torch = rt.torch
    base_streamer: Any = importlib.import_module("transformers.generation.streamers").BaseStreamer
    stopping_criteria: Any = rt.transformers.StoppingCriteria

    class IdStreamer(base_streamer):  # type: ignore[misc]  # transformers is untyped
        def __init__(self, deliver: Callable[[list[int]], None]) -> None:
            self.deliver = deliver
            self.token_ids: list[int] = []
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # the first call carries the prompt
                self.prompt_seen = True
                return
            ids = value.reshape(-1).tolist()  # already on the host: generate copied it
            self.token_ids.extend(ids)
            self.deliver(ids)

        def end(self) -> None:
            pass

    class CancelCriterion(stopping_criteria):  # type: ignore[misc]
        def __init__(self, cancel: threading.Event) -> None:
            self.cancel = cancel
            self.flags: dict[tuple[int, Any], tuple[Any, Any]] = {}

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            key = (input_ids.shape[0], input_ids.device)
            flags = self.flags.get(key)
            if flags is None:
                go = torch.zeros(key[0], dtype=torch.bool, device=key[1])
                flags = self.flags[key] = (go, torch.ones_like(go))
            return flags[1] if self.cancel.is_set() else flags[0]

    return _Classes(IdStreamer, CancelCriterion)


def _grad_mode(acceleration: Acceleration) -> contextlib.AbstractContextManager[Any]:
    # generate runs under no_grad already; inference_mode is a little faster in eager mode,
    # but the compiled path is exercised by transformers without it.
    if acceleration.compile:
        return contextlib.nullcontext()
    manager: contextlib.AbstractContextManager[Any] = runtime().torch.inference_mode()
    return manager


@dataclass(slots=True)
class Outcome:
    """What the worker reports when `generate` has returned (or raised)."""

    token_ids: list[int]
    seconds: float  # busy time on the device, until its queued work had finished
    error: Exception | None = None


@dataclass(slots=True)
class Generation:
    """`generate` on the device's worker thread, bridged to the loop through an asyncio.Queue."""

    loaded: LoadedModel
    inputs: dict[str, Any]
    settings: dict[str, Any]
    ticket: Ticket
    acceleration: Acceleration = field(default_factory=Acceleration)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    cancel: threading.Event = field(default_factory=threading.Event)
    items: asyncio.Queue[list[int] | Outcome] = field(default_factory=asyncio.Queue)
    outcome: Outcome | None = None
    _result: Outcome | None = None

    def start(self) -> None:
        device_workers(self.loaded.device).submit(Job(run=self._run, after=self._finish))

    async def pieces(self) -> AsyncIterator[str]:
        """Decoded text as it comes; `outcome` is set once this ends."""
        decoder = IncrementalDecoder(self.loaded.tokenizer)
        while self.outcome is None:
            item = await self.items.get()
            ids: list[int] = []
            while True:  # everything already waiting is decoded at once
                if isinstance(item, Outcome):
                    self.outcome = item
                    break
                ids += item
                if self.items.empty():
                    break
                item = self.items.get_nowait()
            text = decoder.add(ids) if ids else ""
            if self.outcome is not None and self.outcome.error is None:
                text += decoder.flush()
            if text:
                yield text

    async def stop(self) -> None:
        """Cancel at the next decoding step and wait until the worker has finished."""
        self.cancel.set()
        while self.outcome is None:
            item = await self.items.get()
            if isinstance(item, Outcome):
                self.outcome = item

    def _post(self, item: list[int] | Outcome) -> None:
        try:
            self.loop.call_soon_threadsafe(self.items.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is listening, so stop generating
            self.cancel.set()

    def _run(self) -> None:
        started = time.perf_counter()
        streamer: Any = None
        error: Exception | None = None
        try:
            classes = _classes()
            streamer = classes.streamer(self._post)
            stopping = runtime().transformers.StoppingCriteriaList([classes.cancel(self.cancel)])
            kwargs = {**self.inputs, **self.settings, **self.acceleration.generate_kwargs()}
            with _grad_mode(self.acceleration):
                self.loaded.model.generate(**kwargs, streamer=streamer, stopping_criteria=stopping)
            synchronize(self.loaded.device)
        except Exception as exc:
            error = exc
        ids = list(streamer.token_ids) if streamer is not None else []
        self._result = Outcome(ids, time.perf_counter() - started, error)

    def _finish(self) -> None:
        """On the worker, once it is idle again: free the device, then report."""
        self.ticket.release()  # the next queued request may start
        result = self._result or Outcome([], 0.0, RuntimeError("the generation did not run"))
        self._post(result)


def warm_up(loaded: LoadedModel, acceleration: Acceleration) -> None:
    """One short generation through the same path as a request's, stopped after a few steps.

    Asking for `cache_length` tokens sizes the static cache (transformers keeps the largest
    size it has made, so later requests that fit reuse its shapes); the compile, and the
    recording of the CUDA graphs, happen in the first steps. Blocking: run it on a worker.
    """
    torch = runtime().torch
    config = loaded.model.config
    context = getattr(config, "max_position_embeddings", None)
    cache_length = acceleration.cache_length
    if isinstance(context, int) and context > 0:
        cache_length = min(cache_length, context)
    prompt_length = max(1, min(16, cache_length // 4))
    vocab = int(getattr(config, "vocab_size", 0) or 0) or 2
    input_ids = (torch.arange(1, prompt_length + 1) % vocab).unsqueeze(0).to(loaded.device)
    cancel = threading.Event()
    classes = _classes()

    def count(_: list[int]) -> None:
        if len(streamer.token_ids) >= WARMUP_STEPS:
            cancel.set()

    streamer = classes.streamer(count)
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with _grad_mode(acceleration):
        loaded.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max(1, cache_length - prompt_length),
            min_new_tokens=min(WARMUP_STEPS, max(1, cache_length - prompt_length)),
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad,
            streamer=streamer,
            stopping_criteria=runtime().transformers.StoppingCriteriaList([classes.cancel(cancel)]),
            **acceleration.generate_kwargs(),
        )
    synchronize(loaded.device)
