"""Loaded models, cached per process: from a folder or hub id, or built by the caller."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from inference.backends.base import BadRequestError
from inference.backends.local.acceleration import Acceleration, resolve_acceleration
from inference.backends.local.devices import device_workers, resolve_device, resolve_dtype
from inference.backends.local.runtime import dtype_keyword, runtime

logger = logging.getLogger(__name__)


def default_model_name(path_or_hub_id: str) -> str:
    """The last part of a folder or hub id: 'Qwen/Qwen3-0.6B' gives 'Qwen3-0.6B'."""
    return PurePosixPath(path_or_hub_id.replace("\\", "/").rstrip("/")).name


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A causal LM and its tokenizer, ready on `device`.

    `acceleration` is what it was loaded (and warmed up) with; when the warm-up failed,
    `warmup_error` says why and generations on it run eager, with a dynamic cache.
    """

    path: str
    device: str
    dtype: str
    model: Any
    tokenizer: Any
    acceleration: Acceleration = field(default_factory=Acceleration)
    warmup_seconds: float | None = None
    warmup_error: str = ""

    def usable(self, wanted: Acceleration) -> Acceleration:
        """`wanted`, unless this model's warm-up showed the fast path fails here."""
        if self.warmup_error:
            return Acceleration(cache_length=wanted.cache_length)
        return wanted


_ModelKey = tuple[str, str, str]
_models: dict[_ModelKey, LoadedModel] = {}
_load_locks: dict[_ModelKey, threading.Lock] = {}
_models_lock = threading.Lock()


def is_loaded(path: str, device: str, dtype: str) -> bool:
    """Whether `load_model` would return at once (device and dtype already resolved)."""
    return (path, device, dtype) in _models


def load_model(
    path: str,
    device: str | None = None,
    dtype: str | None = None,
    acceleration: Acceleration | None = None,
) -> LoadedModel:
    """The model at `path` (a folder or hub id) on `device`, loaded once per process.

    Blocking (seconds to minutes, more with a compiling warm-up): call it from a worker thread.
    Two callers racing for the same model load it once; the second waits for the first. The
    first caller's `acceleration` (default: the device's) decides the warm-up.
    """
    device = resolve_device(device)
    dtype = resolve_dtype(device, dtype)
    key = (path, device, dtype)
    with _models_lock:
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _models:
            if acceleration is None:
                acceleration = resolve_acceleration(device)
            _models[key] = _load_uncached(path, device, dtype, acceleration)
        return _models[key]


def adopt_model(
    path: str,
    model: Any,
    tokenizer: Any,
    device: str,
    dtype: str,
    acceleration: Acceleration | None = None,
) -> LoadedModel:
    """Cache a model built by the caller (already on `device`) as if loaded from `path`.

    The benchmark builds models from a config this way; the backend then finds them by path.
    """
    if acceleration is None:
        acceleration = resolve_acceleration(device)
    loaded = _ready(path, device, dtype, model, tokenizer, acceleration)
    with _models_lock:
        _models[(path, device, dtype)] = loaded
    return loaded


def unload_all() -> None:
    """Forget every cached model, so its memory can be freed."""
    with _models_lock:
        _models.clear()


def _load_uncached(path: str, device: str, dtype: str, acceleration: Acceleration) -> LoadedModel:
    rt = runtime()
    auto = rt.transformers
    torch_dtype = "auto" if dtype == "auto" else getattr(rt.torch, dtype)
    try:
        tokenizer = auto.AutoTokenizer.from_pretrained(path)
        model = auto.AutoModelForCausalLM.from_pretrained(path, **{dtype_keyword(): torch_dtype})
        model.to(device)
    except Exception as exc:
        raise BadRequestError(f"Cannot load the local model {path!r}: {exc}") from exc
    return _ready(path, device, dtype, model, tokenizer, acceleration)


def _ready(
    path: str, device: str, dtype: str, model: Any, tokenizer: Any, acceleration: Acceleration
) -> LoadedModel:
    model.eval()
    if device == "cpu":
        _spare_a_core_for_the_event_loop(runtime().torch)
    loaded = LoadedModel(path, device, dtype, model, tokenizer, acceleration)
    if not acceleration.warmup:
        return loaded
    from inference.backends.local.generation import warm_up

    started = time.perf_counter()
    try:
        # On the device's worker thread: the CUDA graphs it records are that thread's.
        device_workers(device).call(lambda: warm_up(loaded, acceleration))
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        logger.warning("Warm-up of %s failed; it runs eager: %s", path, reason)
        return replace(loaded, warmup_error=reason)
    return replace(loaded, warmup_seconds=time.perf_counter() - started)


def _spare_a_core_for_the_event_loop(torch: Any) -> None:
    # torch's intra-op threads spin on every core; leave one to the event loop's thread so
    # the other panels keep streaming while a CPU model decodes. OMP_NUM_THREADS still wins.
    cores = os.cpu_count() or 1
    if "OMP_NUM_THREADS" not in os.environ and cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)
