"""Helpers for the backend tests: one backend per wire format pointed at the simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inference.backends.anthropic import AnthropicBackend
from inference.backends.base import Backend, ChatRequest, Event, HostConfig, Message, ProviderKind
from inference.backends.gemini import GeminiBackend
from inference.backends.openai import OpenAIBackend
from inference.simulator import Simulator

KEY = "sk-test-SECRET-0123456789abcdef"
WIRES: tuple[ProviderKind, ...] = ("openai", "anthropic", "gemini")
FINISH_RAW = {"openai": "stop", "anthropic": "end_turn", "gemini": "STOP"}
LENGTH_RAW = {"openai": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"}

# system "Be brief." (2 words) + "Say hello please" (3 words): the simulator counts 5 input tokens
REQUEST = ChatRequest(
    model="sim-model",
    messages=(Message(role="user", content="Say hello please"),),
    system="Be brief.",
)
PROMPT_WORDS = 5


def base_url(sim: Simulator, kind: ProviderKind) -> str:
    return {
        "openai": sim.openai_base_url,
        "anthropic": sim.anthropic_base_url,
        "gemini": sim.gemini_base_url,
    }[kind]


def make_backend(kind: ProviderKind, url: str, **config: Any) -> Backend:
    host = HostConfig(kind=kind, base_url=url, api_key=config.pop("api_key", KEY), **config)
    classes: dict[str, Callable[[HostConfig], Backend]] = {
        "openai": OpenAIBackend,
        "anthropic": AnthropicBackend,
        "gemini": GeminiBackend,
    }
    cls = classes[kind]
    return cls(host)


async def collect(backend: Backend, request: ChatRequest = REQUEST) -> list[Event]:
    return [event async for event in backend.stream(request)]


async def collect_until_error(
    backend: Backend, request: ChatRequest = REQUEST
) -> tuple[list[Event], BaseException | None]:
    """The events yielded before the stream failed, and the failure."""
    events: list[Event] = []
    try:
        async for event in backend.stream(request):
            events.append(event)
    except Exception as exc:
        return events, exc
    return events, None
