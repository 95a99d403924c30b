"""OpenAI Chat Completions streaming, for OpenAI and every OpenAI-compatible host.

The request: https://platform.openai.com/docs/api-reference/chat/create; the stream of
chunks, usage in the last one with `stream_options.include_usage`:
https://platform.openai.com/docs/api-reference/chat-streaming.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Mapping
from typing import Any

from inference.backends.api import HttpApi, read_events
from inference.backends.base import (
    ChatRequest,
    Event,
    Finish,
    FinishReason,
    HostConfig,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from inference.backends.errors import ErrorMapper
from inference.backends.retry import Sleep
from inference.backends.sse import ServerSentEvent

LABEL = "OpenAI-compatible API"

FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def finish(raw: str | None) -> Finish:
    """Our Finish for an OpenAI `finish_reason`."""
    return Finish(FINISH_REASONS.get(raw or "", "other"), raw)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_usage(usage: Mapping[str, Any]) -> Usage:
    """Usage from an OpenAI-style usage object (DeepSeek's cache fields included)."""
    prompt_details = usage.get("prompt_tokens_details")
    cached = _count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    if not cached:
        cached = _count(usage.get("prompt_cache_hit_tokens"))
    output_details = usage.get("completion_tokens_details")
    reasoning = (
        _count(output_details.get("reasoning_tokens")) if isinstance(output_details, dict) else 0
    )
    return Usage(
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
        cached_input_tokens=cached or 0,
        reasoning_tokens=reasoning or 0,
    )


class ChatCompletionsParser:
    """Our events from a Chat Completions stream
    (https://platform.openai.com/docs/api-reference/chat-streaming).

    Ends at `[DONE]`. A clean end after both the finish reason and the usage also counts,
    as nothing is left to lose (`transformers serve` sends no `[DONE]`, but puts usage on
    its finish chunk). Any other end is a truncated stream.
    """

    __slots__ = ("errors", "finish_raw", "usage")

    def __init__(self, errors: ErrorMapper) -> None:
        self.errors = errors
        self.usage: Usage | None = None
        self.finish_raw: str | None = None

    def feed(self, sse: ServerSentEvent, out: list[Event]) -> bool:
        """Append the deltas of one chunk; True at `[DONE]`."""
        data = sse.data
        if not data:
            return False
        if data.startswith("[DONE]"):
            if self.usage is not None:
                out.append(self.usage)
            out.append(finish(self.finish_raw))
            return True
        errors = self.errors
        chunk = errors.json_object(data)
        if chunk.get("error"):
            raise errors.from_payload(chunk)
        try:
            choices = chunk.get("choices")
            if choices:
                choice = choices[0]
                delta = choice.get("delta")
                if delta:
                    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                    if reasoning and type(reasoning) is str:
                        out.append(ReasoningDelta(reasoning))
                    content = delta.get("content")
                    if content and type(content) is str:
                        out.append(TextDelta(content))
                reason = choice.get("finish_reason")
                if reason:
                    self.finish_raw = str(reason)
            raw_usage = chunk.get("usage")
            if raw_usage:
                self.usage = parse_usage(raw_usage)
            groq = chunk.get("x_groq")  # https://console.groq.com/docs/api-reference
            if groq:
                if groq.get("error"):
                    raise errors.from_payload({"error": groq["error"]})
                if groq.get("usage"):
                    self.usage = parse_usage(groq["usage"])
        except (AttributeError, TypeError, KeyError, IndexError):
            raise errors.malformed(data) from None
        return False

    def end(self, out: list[Event]) -> None:
        """The body ended without `[DONE]`: complete only with a finish reason and usage."""
        if self.finish_raw is None or self.usage is None:
            raise self.errors.truncated("the stream ended without [DONE]")
        out.append(self.usage)
        out.append(finish(self.finish_raw))


def read_stream(
    events: AsyncIterable[ServerSentEvent], errors: ErrorMapper
) -> AsyncGenerator[Event, None]:
    """Events from already-split server-sent events (tests, transcripts)."""
    return read_events(ChatCompletionsParser(errors), events)


def request_body(request: ChatRequest, config: HostConfig) -> dict[str, Any]:
    """The Chat Completions body (https://platform.openai.com/docs/api-reference/chat/create)."""
    messages: list[dict[str, str]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend({"role": m.role, "content": m.content} for m in request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.max_tokens is not None:
        # max_tokens is deprecated and refused by reasoning models; some older hosts
        # only know it, hence the option.
        body[config.options.get("max_tokens_field", "max_completion_tokens")] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.reasoning_effort:
        body["reasoning_effort"] = request.reasoning_effort
    return body


class OpenAIBackend:
    """Chat Completions over SSE; `base_url` ends in /v1 (e.g. https://api.openai.com/v1)."""

    def __init__(self, config: HostConfig, *, sleep: Sleep | None = None) -> None:
        self.config = config
        self._base = config.base_url.rstrip("/")
        headers: dict[str, str] = {}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self._http = HttpApi(config, LABEL, headers, sleep=sleep)

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Stream one answer: deltas, then usage (when the host reports it), then Finish."""
        body = request_body(request, self.config)
        return self._http.stream(f"{self._base}/chat/completions", body, ChatCompletionsParser)

    async def list_models(self) -> list[str]:
        """Model ids from GET {base}/models."""
        payload = await self._http.get_json(f"{self._base}/models")
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise self._http.errors.malformed(str(payload))
        ids = (item.get("id") for item in data if isinstance(item, dict))
        return list(dict.fromkeys(i for i in ids if isinstance(i, str)))
