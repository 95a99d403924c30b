"""OpenAI Chat Completions streaming, for OpenAI and every OpenAI-compatible host (WIRE §1)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from typing import Any

from httpx_sse import ServerSentEvent

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
from inference.backends.http import ErrorMapper, HttpApi, Sleep

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


async def read_stream(
    events: AsyncIterable[ServerSentEvent], errors: ErrorMapper
) -> AsyncGenerator[Event, None]:
    """Events from a Chat Completions SSE stream.

    Ends at `[DONE]`. A clean end after both the finish reason and the usage also counts,
    as nothing is left to lose (`transformers serve` sends no `[DONE]`, but puts usage on
    its finish chunk). Any other end is a truncated stream.
    """
    usage: Usage | None = None
    finish_raw: str | None = None
    async for sse in events:
        data = sse.data
        if not data:
            continue
        if data.startswith("[DONE]"):
            if usage is not None:
                yield usage
            yield finish(finish_raw)
            return
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
                        yield ReasoningDelta(reasoning)
                    content = delta.get("content")
                    if content and type(content) is str:
                        yield TextDelta(content)
                reason = choice.get("finish_reason")
                if reason:
                    finish_raw = str(reason)
            raw_usage = chunk.get("usage")
            if raw_usage:
                usage = parse_usage(raw_usage)
            groq = chunk.get("x_groq")
            if groq:
                if groq.get("error"):
                    raise errors.from_payload({"error": groq["error"]})
                if groq.get("usage"):
                    usage = parse_usage(groq["usage"])
        except (AttributeError, TypeError, KeyError, IndexError):
            raise errors.malformed(data) from None
    if finish_raw is None or usage is None:
        raise errors.truncated("the stream ended without [DONE]")
    yield usage
    yield finish(finish_raw)


def request_body(request: ChatRequest, config: HostConfig) -> dict[str, Any]:
    """The Chat Completions body (WIRE §1.1)."""
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

    def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        """Stream one answer: deltas, then usage (when the host reports it), then Finish."""
        body = request_body(request, self.config)
        return self._http.stream(f"{self._base}/chat/completions", body, read_stream)

    async def list_models(self) -> list[str]:
        """Model ids from GET {base}/models."""
        payload = await self._http.get_json(f"{self._base}/models")
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise self._http.errors.malformed(str(payload))
        ids = (item.get("id") for item in data if isinstance(item, dict))
        return list(dict.fromkeys(i for i in ids if isinstance(i, str)))
