"""Google Gemini `streamGenerateContent?alt=sse`.

The request body and each streamed GenerateContentResponse:
https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent; the usage
metadata: https://ai.google.dev/api/generate-content#UsageMetadata.
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

LABEL = "Gemini API"

FINISH_REASONS: Mapping[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
}
ROLES: Mapping[str, str] = {"user": "user", "assistant": "model"}


def finish(raw: str) -> Finish:
    """Our Finish for a Gemini `finishReason`."""
    return Finish(FINISH_REASONS.get(raw, "other"), raw)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_usage(metadata: Mapping[str, Any]) -> Usage:
    """Usage from usageMetadata: output is candidates + thoughts (candidates exclude them)."""
    prompt = metadata.get("promptTokenCount")
    candidates = metadata.get("candidatesTokenCount")
    thoughts = _count(metadata.get("thoughtsTokenCount"))
    has_output = candidates is not None or "thoughtsTokenCount" in metadata
    return Usage(
        input_tokens=_count(prompt) if prompt is not None else None,
        output_tokens=_count(candidates) + thoughts if has_output else None,
        cached_input_tokens=_count(metadata.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


class GenerateContentParser:
    """Our events from a `streamGenerateContent?alt=sse` stream
    (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent).

    The terminator is a chunk with a finishReason, after which the server closes; usage
    metadata are running snapshots, so the last one wins.
    """

    __slots__ = ("errors", "finish_raw", "metadata")

    def __init__(self, errors: ErrorMapper) -> None:
        self.errors = errors
        self.metadata: Mapping[str, Any] | None = None
        self.finish_raw: str | None = None

    def feed(self, sse: ServerSentEvent, out: list[Event]) -> bool:
        """Append the parts of one GenerateContentResponse; the stream ends at its close."""
        data = sse.data
        if not data:
            return False
        errors = self.errors
        chunk = errors.json_object(data)
        if chunk.get("error"):
            raise errors.from_payload(chunk)
        try:
            candidates = chunk.get("candidates")
            if candidates:
                candidate = candidates[0]
                content = candidate.get("content")
                if content:
                    for part in content.get("parts") or ():
                        text = part.get("text")
                        if text and type(text) is str:
                            out.append(
                                ReasoningDelta(text) if part.get("thought") else TextDelta(text)
                            )
                reason = candidate.get("finishReason")
                if reason:
                    self.finish_raw = str(reason)
            else:
                feedback = chunk.get("promptFeedback")
                if feedback and feedback.get("blockReason"):
                    raise errors.refused(f"prompt blocked: {feedback['blockReason']}")
            usage = chunk.get("usageMetadata")
            if usage and type(usage) is dict:
                self.metadata = usage
        except (AttributeError, TypeError, KeyError, IndexError):
            raise errors.malformed(data) from None
        return False

    def end(self, out: list[Event]) -> None:
        """The server closed: complete if a finishReason came."""
        if self.finish_raw is None:
            raise self.errors.truncated("the stream ended without a finishReason")
        if self.metadata is not None:
            out.append(parse_usage(self.metadata))
        out.append(finish(self.finish_raw))


def read_stream(
    events: AsyncIterable[ServerSentEvent], errors: ErrorMapper
) -> AsyncGenerator[Event, None]:
    """Events from already-split server-sent events (tests, transcripts)."""
    return read_events(GenerateContentParser(errors), events)


def request_body(request: ChatRequest) -> dict[str, Any]:
    """The generateContent body (https://ai.google.dev/api/generate-content#request-body):
    camelCase, roles user/model."""
    body: dict[str, Any] = {
        "contents": [
            {"role": ROLES[m.role], "parts": [{"text": m.content}]} for m in request.messages
        ],
    }
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.reasoning_effort and request.reasoning_effort != "none":
        config["thinkingConfig"] = {"includeThoughts": True}
    if config:
        body["generationConfig"] = config
    return body


class GeminiBackend:
    """Gemini over SSE; `base_url` is the API root (https://generativelanguage.googleapis.com)."""

    def __init__(self, config: HostConfig, *, sleep: Sleep | None = None) -> None:
        self.config = config
        self._base = strip_suffix(config.base_url, "/v1beta")
        headers: dict[str, str] = {}
        if config.api_key:
            headers["x-goog-api-key"] = config.api_key  # a header, so the key is never in a URL
        self._http = HttpApi(config, LABEL, headers, sleep=sleep)

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Stream one answer: thought and text parts, then usage, then Finish."""
        model = request.model.removeprefix("models/")
        url = f"{self._base}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        return self._http.stream(url, request_body(request), GenerateContentParser)

    async def list_models(self) -> list[str]:
        """Models that can generateContent, from GET {base}/v1beta/models (paged)."""
        ids: list[str] = []
        params: dict[str, str | int] = {"pageSize": 1000}
        for _page in range(100):  # a bound, in case a host never stops paging
            payload = await self._http.get_json(f"{self._base}/v1beta/models", params)
            models = payload.get("models", []) if isinstance(payload, dict) else None
            if not isinstance(models, list):
                raise self._http.errors.malformed(str(payload))
            for model in models:
                if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                    continue
                if "generateContent" in (model.get("supportedGenerationMethods") or ()):
                    ids.append(model["name"].removeprefix("models/"))
            token = payload.get("nextPageToken")
            if not token or not isinstance(token, str):
                break
            params = {"pageSize": 1000, "pageToken": token}
        return list(dict.fromkeys(ids))
