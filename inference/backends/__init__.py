"""The registry from provider kind to backend: explicit, no import tricks."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from inference.backends import anthropic, gemini, local, openai
from inference.backends.base import Backend, BackendUnavailableError, HostConfig, ProviderKind

BackendFactory = Callable[[HostConfig], Backend]

BACKENDS: Mapping[ProviderKind, BackendFactory] = {
    "openai": openai.OpenAIBackend,
    "anthropic": anthropic.AnthropicBackend,
    "gemini": gemini.GeminiBackend,
    "local": local.LocalBackend,
}


def backend_for(config: HostConfig) -> Backend:
    """The backend that speaks `config.kind`."""
    try:
        factory = BACKENDS[config.kind]
    except KeyError:
        raise BackendUnavailableError(f"Unknown provider kind {config.kind!r}.") from None
    return factory(config)
