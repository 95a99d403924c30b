"""torch and transformers, imported on first use, so the playground runs without the extra."""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from typing import Any

from inference.backends.base import BackendUnavailableError

INSTALL_HINT = 'the local extra is not installed: pip install ".[local]"'
REQUIRED_MODULES = ("torch", "transformers")


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


@dataclass(frozen=True, slots=True)
class Runtime:
    torch: Any
    transformers: Any
    version: tuple[int, int]  # transformers' major and minor version

    def generation_option(self, name: str) -> bool:
        """Whether this transformers' GenerationConfig knows the option `name`."""
        return _knows_generation_option(self.transformers, name)


@functools.cache
def runtime() -> Runtime:
    """Import torch and transformers (seconds the first time: call it from a worker thread)."""
    reason = missing_extra_reason()
    if reason:
        raise BackendUnavailableError(reason)
    import torch
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return Runtime(torch, transformers, (major, minor))


@functools.cache
def _knows_generation_option(transformers: Any, name: str) -> bool:
    return hasattr(transformers.GenerationConfig(), name)


def dtype_keyword() -> str:
    """transformers 4.56 renamed `torch_dtype` to `dtype`; the [local] extra allows 4.50 up."""
    return "dtype" if runtime().version >= (4, 56) else "torch_dtype"
