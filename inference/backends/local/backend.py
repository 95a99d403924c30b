"""The backend: one request's way through the queue, the loading, and the generation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from inference.backends.base import (
    BackendError,
    BackendUnavailableError,
    ChatRequest,
    Event,
    Finish,
    HostConfig,
    OverloadedError,
    Status,
    UpstreamError,
    Usage,
)
from inference.backends.local import counting
from inference.backends.local.acceleration import Acceleration, resolve_acceleration
from inference.backends.local.devices import resolve_device, resolve_dtype
from inference.backends.local.gate import Ticket, device_gate
from inference.backends.local.generation import Generation
from inference.backends.local.loading import (
    LoadedModel,
    default_model_name,
    is_loaded,
    load_model,
)
from inference.backends.local.prompt import encode_prompt, generation_settings
from inference.backends.local.reasoning import THINK_OPEN, ThinkSplitter
from inference.backends.local.runtime import missing_extra_reason

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Target:
    path: str
    device: str
    dtype: str
    acceleration: Acceleration


@dataclass(frozen=True, slots=True)
class _Prepared:
    loaded: LoadedModel
    inputs: dict[str, Any]
    input_tokens: int
    settings: dict[str, Any]
    starts_thinking: bool
    acceleration: Acceleration


class LocalBackend:
    """Streams a HuggingFace causal LM run in this process.

    `config.options`: "path" (a folder or hub id; default: the request's model name),
    "device" ("auto", "cuda", "mps", "cpu"), "dtype" ("default", "auto", "bfloat16", ...),
    optionally "name" (what `list_models` answers; default: the path's last part), and the
    speed switches "static_cache", "compile", "warmup", "cache_length" (see acceleration.py).
    """

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        # Exact counts of a generation that was stopped before its Usage event.
        self.partial_usage: Usage | None = None

    @property
    def options(self) -> Mapping[str, str]:
        return self.config.options

    async def list_models(self) -> list[str]:
        path = self.options.get("path", "")
        name = self.options.get("name") or (default_model_name(path) if path else "")
        return [name] if name else []

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        reason = missing_extra_reason()
        if reason:
            raise BackendUnavailableError(reason)
        target = await _off_loop(self._target, request)
        ticket = device_gate(target.device).join()
        releases_itself = False  # once a job on the device owns the ticket
        generation: Generation | None = None
        prepared: _Prepared | None = None
        try:
            async for position in ticket.wait_turn():
                yield Status("queued", position=position)
            if not is_loaded(target.path, target.device, target.dtype):
                name = default_model_name(target.path)
                warming = ", compiling" if target.acceleration.compile else ""
                yield Status("loading", detail=f"loading {name} on {target.device}{warming}")
            preparing = asyncio.ensure_future(_off_loop(self._prepare, target, request))
            try:
                prepared = await asyncio.shield(preparing)
            except asyncio.CancelledError:
                # A model half loaded still occupies the device: free it when loading ends.
                preparing.add_done_callback(lambda done: _release_after(done, ticket))
                releases_itself = True
                raise
            yield Status("generating", detail=_sharing_detail(ticket))
            generation = Generation(
                prepared.loaded,
                prepared.inputs,
                prepared.settings,
                ticket,
                prepared.acceleration,
            )
            generation.start()
            releases_itself = True
            async for event in self._events(generation, prepared):
                yield event
        finally:
            if not releases_itself:
                ticket.release()
            if generation is not None:
                await generation.stop()
                outcome = generation.outcome
                if prepared is not None and outcome is not None:
                    self.partial_usage = counting.usage(
                        prepared.input_tokens, outcome, prepared.loaded.tokenizer
                    )

    def _target(self, request: ChatRequest) -> _Target:
        device = resolve_device(self.options.get("device"))
        return _Target(
            path=self.options.get("path") or request.model,
            device=device,
            dtype=resolve_dtype(device, self.options.get("dtype")),
            acceleration=resolve_acceleration(device, self.options),
        )

    @staticmethod
    def _prepare(target: _Target, request: ChatRequest) -> _Prepared:
        loaded = load_model(target.path, target.device, target.dtype, target.acceleration)
        inputs = {
            key: value.to(loaded.device)
            for key, value in encode_prompt(loaded.tokenizer, request).items()
        }
        input_ids = inputs["input_ids"]
        input_tokens = int(input_ids.shape[-1])
        tail = loaded.tokenizer.decode(input_ids[0, -8:].tolist())
        return _Prepared(
            loaded=loaded,
            inputs=inputs,
            input_tokens=input_tokens,
            settings=generation_settings(request, loaded, input_tokens),
            starts_thinking=tail.rstrip().endswith(THINK_OPEN),
            acceleration=loaded.usable(target.acceleration),
        )

    @staticmethod
    async def _events(generation: Generation, prepared: _Prepared) -> AsyncIterator[Event]:
        splitter = ThinkSplitter(thinking=prepared.starts_thinking)
        async for piece in generation.pieces():
            for event in splitter.feed(piece):
                yield event
        outcome = generation.outcome
        assert outcome is not None
        if outcome.error is not None:
            raise as_backend_error(outcome.error) from outcome.error
        for event in splitter.flush():
            yield event
        loaded = prepared.loaded
        yield counting.usage(prepared.input_tokens, outcome, loaded.tokenizer, splitter)
        max_new_tokens = prepared.settings["max_new_tokens"]
        yield Finish(counting.finish_reason(outcome.token_ids, max_new_tokens, loaded))


def as_backend_error(exc: Exception) -> BackendError:
    if isinstance(exc, BackendError):
        return exc
    if "OutOfMemory" in type(exc).__name__:
        return OverloadedError("The local device ran out of memory.", retryable=False)
    return UpstreamError(f"Local generation failed: {type(exc).__name__}: {exc}", retryable=False)


async def _off_loop(function: Callable[..., _T], *args: Any) -> _T:
    """`function(*args)` on a worker thread, any failure turned into a BackendError."""
    try:
        return await asyncio.to_thread(function, *args)
    except BackendError:
        raise
    except Exception as exc:
        raise as_backend_error(exc) from exc


def _release_after(done: asyncio.Future[Any], ticket: Ticket) -> None:
    if not done.cancelled():
        done.exception()  # retrieved, so asyncio does not log it as never retrieved
    ticket.release()


def _sharing_detail(ticket: Ticket) -> str:
    others = ticket.others_running
    if others == 0:
        return ""
    return f"sharing {ticket.gate.device} with {others} other run{'s' if others > 1 else ''}"
