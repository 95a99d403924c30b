"""Anthropic Messages streaming.

The request: https://docs.anthropic.com/en/api/messages; the events (message_start,
content_block_delta, message_delta with the cumulative usage, message_stop, error):
https://docs.anthropic.com/en/api/messages-streaming.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Mapping
from typing import Any

from inference.backends.api import HttpApi, read_events, strip_suffix
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

LABEL = "Anthropic API"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # the API requires max_tokens

FINISH_REASONS: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# For hosts configured with options {"thinking": "budget"} (models before adaptive thinking).
THINKING_BUDGETS: Mapping[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 32000,
}
ADAPTIVE_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})


def finish(raw: str | None) -> Finish:
    """Our Finish for an Anthropic `stop_reason`."""
    return Finish(FINISH_REASONS.get(raw or "", "other"), raw)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _UsageTally:
    """message_start's usage, overridden field by field by message_delta's (cumulative)."""

    __slots__ = ("cache_read", "cache_write", "input", "output", "seen", "thinking")

    def __init__(self) -> None:
        self.seen = False
        self.input: int | None = None
        self.cache_write: int | None = None
        self.cache_read: int | None = None
        self.output: int | None = None
        self.thinking: int | None = None

    def update(self, usage: object) -> None:
        if not isinstance(usage, dict):
            return
        self.seen = True
        for attr, key in (
            ("input", "input_tokens"),
            ("cache_write", "cache_creation_input_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("output", "output_tokens"),
        ):
            value = _count(usage.get(key))
            if value is not None:
                setattr(self, attr, value)
        details = usage.get("output_tokens_details")
        if isinstance(details, dict) and _count(details.get("thinking_tokens")) is not None:
            self.thinking = details["thinking_tokens"]

    def usage(self) -> Usage:
        cache_read = self.cache_read or 0
        cache_write = self.cache_write or 0
        total_input = None if self.input is None else self.input + cache_read + cache_write
        return Usage(
            input_tokens=total_input,
            output_tokens=self.output,
            cached_input_tokens=cache_read,
            reasoning_tokens=self.thinking or 0,
            cache_write_tokens=cache_write,
        )


class MessagesParser:
    """Our events from a Messages stream
    (https://docs.anthropic.com/en/api/messages-streaming); ends at message_stop, any
    other end is a truncated stream."""

    __slots__ = ("errors", "stop_reason", "tally")

    def __init__(self, errors: ErrorMapper) -> None:
        self.errors = errors
        self.tally = _UsageTally()
        self.stop_reason: str | None = None

    def feed(self, sse: ServerSentEvent, out: list[Event]) -> bool:
        """Append what one event says; True at message_stop."""
        data = sse.data
        if not data:
            return False
        errors = self.errors
        message = errors.json_object(data)
        kind: object = sse.event
        if kind == "message":  # no `event:` line: fall back to the payload's own type
            kind = message.get("type")
        try:
            if kind == "content_block_delta":
                delta = message["delta"]
                delta_type = delta.get("type")
                if delta_type == "text_delta":
                    text = delta.get("text")
                    if text and type(text) is str:
                        out.append(TextDelta(text))
                elif delta_type == "thinking_delta":
                    thinking = delta.get("thinking")
                    if thinking and type(thinking) is str:
                        out.append(ReasoningDelta(thinking))
            elif kind == "message_start":
                self.tally.update(message["message"].get("usage"))
            elif kind == "message_delta":
                delta = message.get("delta")
                if isinstance(delta, dict) and delta.get("stop_reason"):
                    self.stop_reason = str(delta["stop_reason"])
                self.tally.update(message.get("usage"))
            elif kind == "message_stop":
                if self.tally.seen:
                    out.append(self.tally.usage())
                out.append(finish(self.stop_reason))
                return True
            elif kind == "error":
                raise errors.from_payload(message)
        except (AttributeError, TypeError, KeyError, IndexError):
            raise errors.malformed(data) from None
        return False

    def end(self, out: list[Event]) -> None:
        """The body ended before message_stop."""
        raise self.errors.truncated("the stream ended without message_stop")


def read_stream(
    events: AsyncIterable[ServerSentEvent], errors: ErrorMapper
) -> AsyncGenerator[Event, None]:
    """Events from already-split server-sent events (tests, transcripts)."""
    return read_events(MessagesParser(errors), events)


def request_body(request: ChatRequest, config: HostConfig) -> dict[str, Any]:
    """The Messages body (https://docs.anthropic.com/en/api/messages): system top-level,
    max_tokens always present, thinking per https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking."""
    max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
    }
    if request.system:
        body["system"] = request.system
    effort = request.reasoning_effort
    thinking = bool(effort) and effort != "none"
    if thinking and effort:
        if config.options.get("thinking") == "budget":
            budget = THINKING_BUDGETS.get(effort, THINKING_BUDGETS["medium"])
            if request.max_tokens is None:
                max_tokens = budget + DEFAULT_MAX_TOKENS
            budget = min(budget, max_tokens - 1)
            thinking = budget >= THINKING_BUDGETS["minimal"]
            if thinking:
                body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            body["thinking"] = {"type": "adaptive"}
            body["output_config"] = {"effort": effort if effort in ADAPTIVE_EFFORTS else "low"}
    body["max_tokens"] = max_tokens
    # Thinking refuses a non-default temperature; the API's range is 0..1, not OpenAI's 0..2.
    if request.temperature is not None and not thinking:
        body["temperature"] = min(max(request.temperature, 0.0), 1.0)
    return body


class AnthropicBackend:
    """Messages over SSE; `base_url` is the API root (e.g. https://api.anthropic.com)."""

    def __init__(self, config: HostConfig, *, sleep: Sleep | None = None) -> None:
        self.config = config
        self._base = strip_suffix(config.base_url, "/v1")
        headers = {"anthropic-version": API_VERSION}
        if config.api_key:
            headers["x-api-key"] = config.api_key
        self._http = HttpApi(config, LABEL, headers, sleep=sleep)

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Stream one answer: thinking and text deltas, then usage, then Finish."""
        body = request_body(request, self.config)
        return self._http.stream(f"{self._base}/v1/messages", body, MessagesParser)

    async def list_models(self) -> list[str]:
        """Model ids from GET {base}/v1/models, following has_more / last_id."""
        ids: list[str] = []
        params: dict[str, str | int] = {"limit": 1000}
        for _page in range(100):  # a bound, in case a host never says has_more=false
            payload = await self._http.get_json(f"{self._base}/v1/models", params)
            data = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(data, list):
                raise self._http.errors.malformed(str(payload))
            ids.extend(item["id"] for item in data if isinstance(item, dict) and "id" in item)
            last_id = payload.get("last_id")
            if not payload.get("has_more") or not isinstance(last_id, str) or not data:
                break
            params = {"limit": 1000, "after_id": last_id}
        return list(dict.fromkeys(i for i in ids if isinstance(i, str)))
