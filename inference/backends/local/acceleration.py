"""How fast `generate` may go: a static KV cache, torch.compile of the forward, warm-up at load.

On CUDA all three are on by default. transformers then compiles the decoding step
(`mode="reduce-overhead"`, so CUDA graphs replay it), which needs the static cache (fixed
shapes); the warm-up at load runs one short generation so that the compile happens before the
first user, and sizes the static cache to `cache_length` tokens, so that later requests that
fit reuse the same shapes and compile nothing. On the CPU and MPS they are off (transformers
compiles only on CUDA, and a static cache alone is no faster there).

Each can be set per model in the provider's options ("static_cache", "compile", "warmup":
"auto", "on" or "off"; "cache_length": tokens), or for the process with the environment
variables below. Two generations sharing a device (PLAYGROUND_LOCAL_CONCURRENCY above 1) turn
the static cache off by default: older transformers keep one static cache per model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inference.backends.base import BadRequestError
from inference.backends.local.gate import configured_concurrency
from inference.backends.local.runtime import runtime

SWITCHES = ("auto", "on", "off")
STATIC_CACHE_ENV = "PLAYGROUND_LOCAL_STATIC_CACHE"
COMPILE_ENV = "PLAYGROUND_LOCAL_COMPILE"
WARMUP_ENV = "PLAYGROUND_LOCAL_WARMUP"
CACHE_LENGTH_ENV = "PLAYGROUND_LOCAL_CACHE_LENGTH"
DEFAULT_CACHE_LENGTH = 4096
WARMUP_STEPS = 8  # enough decoding steps for a compile, a CUDA graph recording and replays


@dataclass(frozen=True, slots=True)
class Acceleration:
    """What one generation uses: all off is plain eager `generate` with a dynamic cache."""

    static_cache: bool = False
    compile: bool = False
    warmup: bool = False
    cache_length: int = DEFAULT_CACHE_LENGTH

    def generate_kwargs(self) -> dict[str, Any]:
        """The extra keyword arguments of `generate`."""
        if not self.static_cache:
            return {}
        kwargs: dict[str, Any] = {"cache_implementation": "static"}
        if not self.compile and runtime().generation_option("disable_compile"):
            kwargs["disable_compile"] = True  # else transformers compiles on CUDA by itself
        return kwargs

    def describe(self) -> str:
        if not self.static_cache:
            return "eager, dynamic cache"
        return "static cache, compiled" if self.compile else "static cache, eager"


def resolve_acceleration(device: str, options: Mapping[str, str] | None = None) -> Acceleration:
    """The acceleration for `device` from a provider's options, else the environment."""
    options = options or {}
    static = _switch(options, "static_cache", STATIC_CACHE_ENV)
    compiled = _switch(options, "compile", COMPILE_ENV)
    warmup = _switch(options, "warmup", WARMUP_ENV)
    rt = runtime()
    cuda = device == "cuda"
    use_static = rt.generation_option("cache_implementation") and (
        static == "on" or (static == "auto" and cuda and configured_concurrency() == 1)
    )
    use_compile = (
        use_static
        and cuda
        and compiled != "off"
        and hasattr(rt.torch, "compile")
        and rt.generation_option("compile_config")
    )
    return Acceleration(
        static_cache=use_static,
        compile=use_compile,
        warmup=warmup == "on" or (warmup == "auto" and use_compile),
        cache_length=_cache_length(options),
    )


def _switch(options: Mapping[str, str], name: str, env: str) -> str:
    value = (options.get(name) or os.environ.get(env) or "auto").strip().lower()
    aliases = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}
    value = aliases.get(value, value)
    if value not in SWITCHES:
        raise BadRequestError(f"Unknown {name} {value!r}; use one of {', '.join(SWITCHES)}.")
    return value


def _cache_length(options: Mapping[str, str]) -> int:
    raw = options.get("cache_length") or os.environ.get(CACHE_LENGTH_ENV) or ""
    try:
        return max(64, int(raw)) if raw.strip() else DEFAULT_CACHE_LENGTH
    except ValueError:
        raise BadRequestError(f"cache_length must be a number of tokens, not {raw!r}.") from None
