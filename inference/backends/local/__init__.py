"""In-process HuggingFace transformers on the local GPU (Apple MPS, else CPU, when there is none).

torch and transformers are imported only when a local model is first used, so the playground
runs without the [local] extra; `missing_extra_reason()` says what is missing. Nothing here
imports Django.

One request's path, and the module for each step:

1. wait its turn in the device's FIFO queue, `Status("queued", position=n)` while it waits
   (gate.py);
2. load the model and tokenizer, once per process, `Status("loading")` (loading.py); on CUDA
   the load ends with a warm-up generation that compiles the decoding step (acceleration.py);
3. build the prompt with the tokenizer's chat template (prompt.py), then `Status("generating")`;
4. `generate` runs on the device's long-lived worker thread (devices.py); a streamer posts
   the new token ids to the event loop with `call_soon_threadsafe`, and the loop decodes them
   into text (generation.py), routing <think> text to reasoning (reasoning.py);
5. `Usage` (exact counts from the model's own tokenizer, busy seconds) and `Finish`
   (counting.py, backend.py).

Closing the stream (stop, disconnect) sets a cancel flag that a stopping criterion reads after
every decoding step; the device is handed to the next request when `generate` has returned.
A stream stopped before its Usage leaves exact counts in `LocalBackend.partial_usage`.
"""

from __future__ import annotations

from inference.backends.base import (
    BackendError,
    BackendUnavailableError,
    BadRequestError,
    ContextTooLongError,
    OverloadedError,
    UpstreamError,
)
from inference.backends.local.acceleration import (
    CACHE_LENGTH_ENV,
    COMPILE_ENV,
    DEFAULT_CACHE_LENGTH,
    STATIC_CACHE_ENV,
    WARMUP_ENV,
    WARMUP_STEPS,
    Acceleration,
    resolve_acceleration,
)
from inference.backends.local.backend import LocalBackend, as_backend_error
from inference.backends.local.counting import finish_reason, reasoning_tokens, usage
from inference.backends.local.devices import (
    DEVICES,
    DTYPES,
    DeviceWorkers,
    device_workers,
    resolve_device,
    resolve_dtype,
)
from inference.backends.local.gate import (
    CONCURRENCY_ENV,
    DeviceGate,
    Ticket,
    configured_concurrency,
    device_gate,
)
from inference.backends.local.generation import Generation, IncrementalDecoder, Outcome, warm_up
from inference.backends.local.loading import (
    LoadedModel,
    adopt_model,
    default_model_name,
    is_loaded,
    load_model,
    unload_all,
)
from inference.backends.local.prompt import (
    DEFAULT_MAX_NEW_TOKENS,
    conversation,
    encode_prompt,
    generation_settings,
)
from inference.backends.local.reasoning import THINK_CLOSE, THINK_OPEN, ThinkSplitter
from inference.backends.local.runtime import INSTALL_HINT, REQUIRED_MODULES, missing_extra_reason

__all__ = [
    "CACHE_LENGTH_ENV",
    "COMPILE_ENV",
    "CONCURRENCY_ENV",
    "DEFAULT_CACHE_LENGTH",
    "DEFAULT_MAX_NEW_TOKENS",
    "DEVICES",
    "DTYPES",
    "INSTALL_HINT",
    "REQUIRED_MODULES",
    "STATIC_CACHE_ENV",
    "THINK_CLOSE",
    "THINK_OPEN",
    "WARMUP_ENV",
    "WARMUP_STEPS",
    "Acceleration",
    "BackendError",
    "BackendUnavailableError",
    "BadRequestError",
    "ContextTooLongError",
    "DeviceGate",
    "DeviceWorkers",
    "Generation",
    "IncrementalDecoder",
    "LoadedModel",
    "LocalBackend",
    "Outcome",
    "OverloadedError",
    "ThinkSplitter",
    "Ticket",
    "UpstreamError",
    "adopt_model",
    "as_backend_error",
    "configured_concurrency",
    "conversation",
    "default_model_name",
    "device_gate",
    "device_workers",
    "encode_prompt",
    "finish_reason",
    "generation_settings",
    "is_loaded",
    "load_model",
    "missing_extra_reason",
    "reasoning_tokens",
    "resolve_acceleration",
    "resolve_device",
    "resolve_dtype",
    "unload_all",
    "usage",
    "warm_up",
]
