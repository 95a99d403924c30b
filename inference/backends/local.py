"""In-process HuggingFace transformers on the local GPU (Apple MPS, else CPU, when there is none).

torch and transformers are imported only when a local model is first used, so the playground
runs without the [local] extra; `missing_extra_reason()` says what is missing.

One request's path:

1. wait its turn in the device's FIFO queue (`Status("queued", position=n)` while it waits);
2. load the model and tokenizer, once per process (`Status("loading")`);
3. build the prompt with the tokenizer's chat template, then `Status("generating")`;
4. `generate` runs on a worker thread; a `TextStreamer` subclass hands decoded text to the
   event loop with `call_soon_threadsafe`, so the loop never blocks on the thread;
5. `Usage` (exact counts from the model's own tokenizer, busy seconds) and `Finish`.

Closing the stream (stop, disconnect) sets a cancel flag that a stopping criterion reads after
every decoding step; the device is handed to the next request when the thread has ended.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, TypeVar

from inference.backends.base import (
    BackendError,
    BackendUnavailableError,
    BadRequestError,
    ChatRequest,
    ContextTooLongError,
    Event,
    Finish,
    HostConfig,
    OverloadedError,
    ReasoningDelta,
    Status,
    TextDelta,
    UpstreamError,
    Usage,
)

INSTALL_HINT = 'the local extra is not installed: pip install ".[local]"'
REQUIRED_MODULES = ("torch", "transformers")
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("default", "auto", "bfloat16", "float16", "float32")
DEFAULT_MAX_NEW_TOKENS = 1024
CONCURRENCY_ENV = "PLAYGROUND_LOCAL_CONCURRENCY"

_T = TypeVar("_T")


def missing_extra_reason() -> str:
    """Why local models cannot run here ('' when torch and transformers are importable)."""
    for name in REQUIRED_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return INSTALL_HINT
    return ""


def default_model_name(path_or_hub_id: str) -> str:
    """The last part of a folder or hub id: 'Qwen/Qwen3-0.6B' gives 'Qwen3-0.6B'."""
    return PurePosixPath(path_or_hub_id.replace("\\", "/").rstrip("/")).name


# --- the runtime, imported on first use -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Runtime:
    torch: Any
    transformers: Any
    streamer_class: Any  # a TextStreamer that forwards text and counts new token ids
    cancel_criterion_class: Any  # a StoppingCriteria that reads a threading.Event


@functools.cache
def _runtime() -> _Runtime:
    """Import torch and transformers (seconds the first time: call it from a worker thread)."""
    reason = missing_extra_reason()
    if reason:
        raise BackendUnavailableError(reason)
    import torch
    import transformers

    class BridgeStreamer(transformers.TextStreamer):
        """Decodes like TextIteratorStreamer; hands each piece to `deliver` and keeps the ids."""

        def __init__(self, tokenizer: Any, deliver: Callable[[str], None]) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.deliver = deliver
            self.token_ids: list[int] = []

        def put(self, value: Any) -> None:
            if not self.next_tokens_are_prompt:  # the first call carries the prompt
                self.token_ids.extend(value.reshape(-1).tolist())
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                self.deliver(text)

    class CancelCriterion(transformers.StoppingCriteria):
        """Stops `generate` at the next step once the consumer has gone."""

        def __init__(self, cancel: threading.Event) -> None:
            self.cancel = cancel

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full(
                (input_ids.shape[0],),
                self.cancel.is_set(),
                dtype=torch.bool,
                device=input_ids.device,
            )

    return _Runtime(torch, transformers, BridgeStreamer, CancelCriterion)


def resolve_device(requested: str | None = None) -> str:
    """The device to run on: the one asked for, else CUDA, else Apple MPS, else CPU."""
    requested = (requested or "auto").strip().lower()
    if requested not in DEVICES:
        raise BadRequestError(f"Unknown device {requested!r}; use one of {', '.join(DEVICES)}.")
    if requested != "auto":
        return requested
    torch = _runtime().torch
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(device: str, requested: str | None = None) -> str:
    """A dtype name: bf16 on GPUs that support it, else fp16 on GPUs, fp32 on CPU.

    "auto" keeps the dtype the weights were saved in.
    """
    requested = (requested or "default").strip().lower()
    if requested not in DTYPES:
        raise BadRequestError(f"Unknown dtype {requested!r}; use one of {', '.join(DTYPES)}.")
    if requested != "default":
        return requested
    if device == "cuda":
        return "bfloat16" if _runtime().torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "float32"  # float16 matmuls on CPU are slow or unsupported


# --- loaded models, cached per process ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A causal LM and its tokenizer, ready on `device`."""

    path: str
    device: str
    dtype: str
    model: Any
    tokenizer: Any


_ModelKey = tuple[str, str, str]
_models: dict[_ModelKey, LoadedModel] = {}
_load_locks: dict[_ModelKey, threading.Lock] = {}
_models_lock = threading.Lock()


def is_loaded(path: str, device: str, dtype: str) -> bool:
    """Whether `load_model` would return at once (device and dtype already resolved)."""
    return (path, device, dtype) in _models


def load_model(path: str, device: str | None = None, dtype: str | None = None) -> LoadedModel:
    """The model at `path` (a folder or hub id) on `device`, loaded once per process.

    Blocking (seconds to minutes): call it from a worker thread. Two callers racing for the
    same model load it once; the second waits for the first.
    """
    device = resolve_device(device)
    dtype = resolve_dtype(device, dtype)
    key = (path, device, dtype)
    with _models_lock:
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _models:
            _models[key] = _load_uncached(path, device, dtype)
        return _models[key]


def unload_all() -> None:
    """Forget every cached model, so its memory can be freed."""
    with _models_lock:
        _models.clear()


def _load_uncached(path: str, device: str, dtype: str) -> LoadedModel:
    runtime = _runtime()
    auto = runtime.transformers
    torch_dtype = "auto" if dtype == "auto" else getattr(runtime.torch, dtype)
    try:
        tokenizer = auto.AutoTokenizer.from_pretrained(path)
        model = auto.AutoModelForCausalLM.from_pretrained(path, **{_dtype_keyword(): torch_dtype})
        model.to(device)
    except Exception as exc:
        raise BadRequestError(f"Cannot load the local model {path!r}: {exc}") from exc
    model.eval()
    if device == "cpu":
        _spare_a_core_for_the_event_loop(runtime.torch)
    return LoadedModel(path=path, device=device, dtype=dtype, model=model, tokenizer=tokenizer)


def _dtype_keyword() -> str:
    """transformers 4.56 renamed `torch_dtype` to `dtype`; the [local] extra allows 4.50 up."""
    major, minor = (int(part) for part in _runtime().transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _spare_a_core_for_the_event_loop(torch: Any) -> None:
    # torch's intra-op threads spin on every core; leave one to the event loop's thread so
    # the other panels keep streaming while a CPU model decodes. OMP_NUM_THREADS still wins.
    cores = os.cpu_count() or 1
    if "OMP_NUM_THREADS" not in os.environ and cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


# --- one FIFO gate per device ---------------------------------------------------------------


class Ticket:
    """One request's place at a device: queued until admitted, then running until released."""

    def __init__(self, gate: DeviceGate, loop: asyncio.AbstractEventLoop) -> None:
        self.gate = gate
        self.others_running = 0  # other generations on the device when this one was admitted
        self._loop = loop
        self._updates: asyncio.Queue[int] = asyncio.Queue()  # positions; 0 means admitted
        self._last_position: int | None = None
        self.admitted = False
        self.released = False

    async def wait_turn(self) -> AsyncIterator[int]:
        """Yields the queue position (1 = next) each time it changes; returns once admitted."""
        while True:
            position = await self._updates.get()
            while not self._updates.empty():  # only the newest position matters
                position = self._updates.get_nowait()
            if position == 0:
                return
            yield position

    def release(self) -> None:
        """Leave the queue, or free the device slot. Safe to call from any thread, once or more."""
        self.gate._leave(self)

    def _notify(self, position: int) -> bool:
        """Tell the waiting coroutine its new position; False when its event loop is gone."""
        if position == self._last_position:
            return True
        self._last_position = position
        try:
            self._loop.call_soon_threadsafe(self._updates.put_nowait, position)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            return False
        return True


class DeviceGate:
    """Lets `capacity` generations use one device at once; the others wait in arrival order.

    Thread-safe and not tied to one event loop: tickets are woken on their own loop.
    """

    def __init__(self, device: str, capacity: int = 1) -> None:
        self.device = device
        self.capacity = capacity
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: list[Ticket] = []

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def join(self) -> Ticket:
        """A ticket for the calling coroutine: iterate `wait_turn()` before using the device."""
        ticket = Ticket(self, asyncio.get_running_loop())
        with self._lock:
            self._waiting.append(ticket)
            self._admit_locked()
            if not ticket.admitted:
                ticket._notify(len(self._waiting))
        return ticket

    def _leave(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            if ticket.admitted:
                self._running -= 1
            else:
                self._waiting.remove(ticket)
            self._admit_locked()
            for position, waiting in enumerate(self._waiting, start=1):
                waiting._notify(position)

    def _admit_locked(self) -> None:
        while self._waiting and self._running < max(1, self.capacity):
            ticket = self._waiting.pop(0)
            ticket.others_running = self._running
            if ticket._notify(0):
                ticket.admitted = True
                self._running += 1
            else:
                ticket.released = True


_gates: dict[str, DeviceGate] = {}
_gates_lock = threading.Lock()


def device_gate(device: str) -> DeviceGate:
    """The process-wide gate of `device`; its capacity follows PLAYGROUND_LOCAL_CONCURRENCY."""
    with _gates_lock:
        gate = _gates.setdefault(device, DeviceGate(device))
    gate.capacity = configured_concurrency()
    return gate


def configured_concurrency() -> int:
    """How many generations may share one device (PLAYGROUND_LOCAL_CONCURRENCY, default 1)."""
    try:
        return max(1, int(os.environ.get(CONCURRENCY_ENV, "1")))
    except ValueError:
        return 1


# --- reasoning markers ----------------------------------------------------------------------

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_SplitState = Literal["start", "thinking", "after_thinking", "answer"]


class ThinkSplitter:
    """Routes text inside a leading <think>...</think> to ReasoningDelta, the rest to TextDelta.

    Markers may arrive split across pieces, so a piece that could be the start of one is held.
    """

    def __init__(self, *, thinking: bool = False) -> None:
        self.state: _SplitState = "thinking" if thinking else "start"
        self.saw_reasoning = thinking
        self._held = ""

    def feed(self, text: str) -> list[TextDelta | ReasoningDelta]:
        events: list[TextDelta | ReasoningDelta] = []
        text = self._held + text
        self._held = ""
        while text:
            if self.state == "start":
                stripped = text.lstrip()
                if stripped.startswith(THINK_OPEN):
                    self.state, self.saw_reasoning = "thinking", True
                    text = stripped[len(THINK_OPEN) :]
                elif THINK_OPEN.startswith(stripped):
                    self._held = text
                    return events
                else:
                    self.state = "answer"
            elif self.state == "thinking":
                end = text.find(THINK_CLOSE)
                if end >= 0:
                    events.append(ReasoningDelta(text[:end]))
                    self.state, text = "after_thinking", text[end + len(THINK_CLOSE) :]
                    continue
                keep = _partial_marker_length(text, THINK_CLOSE)
                events.append(ReasoningDelta(text[: len(text) - keep]))
                self._held = text[len(text) - keep :]
                text = ""
            elif self.state == "after_thinking":
                text = text.lstrip()
                if text:
                    self.state = "answer"
            else:
                events.append(TextDelta(text))
                text = ""
        return [event for event in events if event.text]

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        held, self._held = self._held, ""
        if not held:
            return []
        return [ReasoningDelta(held) if self.state == "thinking" else TextDelta(held)]


def _partial_marker_length(text: str, marker: str) -> int:
    """The length of the longest end of `text` that begins `marker`."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


# --- prompt and generation settings ---------------------------------------------------------


def conversation(request: ChatRequest) -> list[dict[str, str]]:
    """The request as chat-template messages, the system prompt first."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    return messages


def encode_prompt(tokenizer: Any, request: ChatRequest) -> dict[str, Any]:
    """input_ids and attention_mask (batch of one) built by the tokenizer's chat template.

    Templates that refuse a system role get it prepended to the first user message; a
    tokenizer without a template (a base model) gets the turns joined by blank lines.
    """
    messages = conversation(request)
    if not getattr(tokenizer, "chat_template", None):
        text = "\n\n".join(m["content"] for m in messages)
        return _model_inputs(tokenizer(text, return_tensors="pt"))
    try:
        return _apply_template(tokenizer, messages)
    except Exception as exc:
        if not request.system:
            raise BadRequestError(f"The model's chat template failed: {exc}") from exc
    folded = conversation(ChatRequest(model=request.model, messages=request.messages))
    if folded and folded[0]["role"] == "user":
        folded[0] = {"role": "user", "content": f"{request.system}\n\n{folded[0]['content']}"}
    try:
        return _apply_template(tokenizer, folded)
    except Exception as exc:
        raise BadRequestError(f"The model's chat template failed: {exc}") from exc


def _apply_template(tokenizer: Any, messages: list[dict[str, str]]) -> dict[str, Any]:
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    return _model_inputs(encoded)


def _model_inputs(encoded: Any) -> dict[str, Any]:
    # Some tokenizers add token_type_ids, which causal LMs' generate() rejects.
    return {key: encoded[key] for key in ("input_ids", "attention_mask") if key in encoded}


def generation_settings(
    request: ChatRequest, loaded: LoadedModel, input_length: int
) -> dict[str, Any]:
    """Keyword arguments for `generate`: greedy unless a temperature above 0 is asked for."""
    max_new_tokens = request.max_tokens or DEFAULT_MAX_NEW_TOKENS
    context = getattr(loaded.model.config, "max_position_embeddings", None)
    if isinstance(context, int) and context > 0:
        room = context - input_length
        if room <= 0:
            raise ContextTooLongError(
                f"The prompt is {input_length} tokens; the model's context is {context}."
            )
        max_new_tokens = min(max_new_tokens, room)
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    settings: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": pad}
    if request.temperature:
        settings.update(do_sample=True, temperature=request.temperature)
    else:  # None or 0: greedy, and no sampling knobs left over from generation_config
        settings.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return settings


def _eos_ids(loaded: LoadedModel) -> set[int]:
    eos = loaded.model.generation_config.eos_token_id
    if eos is None:
        eos = loaded.tokenizer.eos_token_id
    if eos is None:
        return set()
    return {eos} if isinstance(eos, int) else set(eos)


def _single_token_id(tokenizer: Any, text: str) -> int | None:
    """The id of `text` when the vocabulary has it as one token, else None."""
    token_id = tokenizer.convert_tokens_to_ids(text)
    if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id:
        return None
    return token_id


# --- one generation on a worker thread ------------------------------------------------------


_thread_numbers = itertools.count(1)


@dataclass(slots=True)
class _Outcome:
    """What the worker thread reports when `generate` has returned (or raised)."""

    token_ids: list[int]
    seconds: float
    error: Exception | None = None


@dataclass(slots=True)
class _Generation:
    """`generate` on its own thread, bridged to the loop through an asyncio.Queue."""

    loaded: LoadedModel
    inputs: dict[str, Any]
    settings: dict[str, Any]
    ticket: Ticket
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    cancel: threading.Event = field(default_factory=threading.Event)
    items: asyncio.Queue[str | _Outcome] = field(default_factory=asyncio.Queue)
    outcome: _Outcome | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._run,
            name=f"local-generate-{self.loaded.device}-{next(_thread_numbers)}",
            daemon=True,
        )
        self.thread.start()

    async def pieces(self) -> AsyncIterator[str]:
        """Decoded text as it comes; `outcome` is set once this ends."""
        while self.outcome is None:
            item = await self.items.get()
            if isinstance(item, _Outcome):
                self.outcome = item
            else:
                yield item

    async def stop(self) -> None:
        """Cancel at the next decoding step and wait until the thread has ended."""
        self.cancel.set()
        while self.outcome is None:
            item = await self.items.get()
            if isinstance(item, _Outcome):
                self.outcome = item

    def _post(self, item: str | _Outcome) -> None:
        try:
            self.loop.call_soon_threadsafe(self.items.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is listening, so stop generating
            self.cancel.set()

    def _run(self) -> None:
        runtime = _runtime()
        streamer = runtime.streamer_class(self.loaded.tokenizer, self._post)
        stopping = runtime.transformers.StoppingCriteriaList(
            [runtime.cancel_criterion_class(self.cancel)]
        )
        started = time.perf_counter()
        error: Exception | None = None
        try:
            with runtime.torch.inference_mode():
                self.loaded.model.generate(
                    **self.inputs, **self.settings, streamer=streamer, stopping_criteria=stopping
                )
        except Exception as exc:
            error = exc
        finally:
            seconds = time.perf_counter() - started
            self.ticket.release()  # the device is free: the next queued request may start
            self._post(_Outcome(list(streamer.token_ids), seconds, error))


def _as_backend_error(exc: Exception) -> BackendError:
    if isinstance(exc, BackendError):
        return exc
    if "OutOfMemory" in type(exc).__name__:
        return OverloadedError("The local device ran out of memory.", retryable=False)
    return UpstreamError(f"Local generation failed: {type(exc).__name__}: {exc}", retryable=False)


# --- the backend ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    path: str
    device: str
    dtype: str


@dataclass(frozen=True, slots=True)
class _Prepared:
    loaded: LoadedModel
    inputs: dict[str, Any]
    input_tokens: int
    settings: dict[str, Any]
    starts_thinking: bool


class LocalBackend:
    """Streams a HuggingFace causal LM run in this process.

    `config.options`: "path" (a folder or hub id; default: the request's model name),
    "device" ("auto", "cuda", "mps", "cpu"), "dtype" ("default", "auto", "bfloat16", ...),
    and optionally "name" (what `list_models` answers; default: the path's last part).
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

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        reason = missing_extra_reason()
        if reason:
            raise BackendUnavailableError(reason)
        target = await _off_loop(self._target, request)
        ticket = device_gate(target.device).join()
        releases_itself = False  # once a thread on the device owns the ticket
        generation: _Generation | None = None
        prepared: _Prepared | None = None
        try:
            async for position in ticket.wait_turn():
                yield Status("queued", position=position)
            if not is_loaded(target.path, target.device, target.dtype):
                name = default_model_name(target.path)
                yield Status("loading", detail=f"loading {name} on {target.device}")
            preparing = asyncio.ensure_future(_off_loop(self._prepare, target, request))
            try:
                prepared = await asyncio.shield(preparing)
            except asyncio.CancelledError:
                # A model half loaded still occupies the device: free it when loading ends.
                preparing.add_done_callback(lambda done: _release_after(done, ticket))
                releases_itself = True
                raise
            yield Status("generating", detail=_sharing_detail(ticket))
            generation = _Generation(prepared.loaded, prepared.inputs, prepared.settings, ticket)
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
                    self.partial_usage = Usage(
                        input_tokens=prepared.input_tokens,
                        output_tokens=len(outcome.token_ids),
                        gpu_seconds=outcome.seconds,
                    )

    def _target(self, request: ChatRequest) -> _Target:
        device = resolve_device(self.options.get("device"))
        return _Target(
            path=self.options.get("path") or request.model,
            device=device,
            dtype=resolve_dtype(device, self.options.get("dtype")),
        )

    @staticmethod
    def _prepare(target: _Target, request: ChatRequest) -> _Prepared:
        loaded = load_model(target.path, target.device, target.dtype)
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
        )

    @staticmethod
    async def _events(generation: _Generation, prepared: _Prepared) -> AsyncIterator[Event]:
        splitter = ThinkSplitter(thinking=prepared.starts_thinking)
        async for piece in generation.pieces():
            for event in splitter.feed(piece):
                yield event
        outcome = generation.outcome
        assert outcome is not None
        if outcome.error is not None:
            raise _as_backend_error(outcome.error) from outcome.error
        for event in splitter.flush():
            yield event
        ids = outcome.token_ids
        yield Usage(
            input_tokens=prepared.input_tokens,
            output_tokens=len(ids),
            reasoning_tokens=_reasoning_tokens(prepared.loaded.tokenizer, ids, splitter),
            gpu_seconds=outcome.seconds,
        )
        ran_out = len(ids) >= prepared.settings["max_new_tokens"]
        ended_by_eos = bool(ids) and ids[-1] in _eos_ids(prepared.loaded)
        yield Finish("length" if ran_out and not ended_by_eos else "stop")


async def _off_loop(function: Callable[..., _T], *args: Any) -> _T:
    """`function(*args)` on a worker thread, any failure turned into a BackendError."""
    try:
        return await asyncio.to_thread(function, *args)
    except BackendError:
        raise
    except Exception as exc:
        raise _as_backend_error(exc) from exc


def _release_after(done: asyncio.Future[Any], ticket: Ticket) -> None:
    if not done.cancelled():
        done.exception()  # retrieved, so asyncio does not log it as never retrieved
    ticket.release()


def _sharing_detail(ticket: Ticket) -> str:
    others = ticket.others_running
    if others == 0:
        return ""
    return f"sharing {ticket.gate.device} with {others} other run{'s' if others > 1 else ''}"


def _reasoning_tokens(tokenizer: Any, ids: list[int], splitter: ThinkSplitter) -> int:
    """Exact when the closing marker is one token of the vocabulary, else 0 (never a guess)."""
    if not splitter.saw_reasoning:
        return 0
    close_id = _single_token_id(tokenizer, THINK_CLOSE)
    if close_id is None:
        return 0
    return ids.index(close_id) + 1 if close_id in ids else len(ids)
