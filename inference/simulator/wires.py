"""The three streaming wire formats, as the providers document them: each answer planned from
its scenario and the request's token limit, then encoded event by event.

- OpenAI Chat Completions (and every OpenAI-compatible host): data-only server-sent events,
  usage in its own chunk after the finish, then `data: [DONE]`.
  https://platform.openai.com/docs/api-reference/chat-streaming
- Anthropic Messages: `event:` + `data:` lines, message_start, content blocks, message_delta,
  message_stop; errors as HTTP statuses or an `error` event.
  https://docs.anthropic.com/en/api/messages-streaming
  https://docs.anthropic.com/en/api/errors
- Gemini `streamGenerateContent?alt=sse`: data-only events, CRLF, the last chunk carrying
  finishReason and the usage; errors as google.rpc statuses.
  https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent
  https://ai.google.dev/gemini-api/docs/troubleshooting
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .request import max_tokens, prompt_words
from .scenario import CREATED, Scenario


def dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Plan:
    """The pieces to send and the usage to report, after the request's token limit."""

    reasoning: list[str]
    text: list[str]
    cut: bool  # the token limit cut the answer short
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    usage: bool  # report usage at all


def make_plan(scenario: Scenario, body: dict[str, Any]) -> Plan:
    reasoning, text = scenario.reasoning_pieces(), scenario.pieces()
    limit = max_tokens(body)
    cut = limit is not None and len(reasoning) + len(text) > limit
    if limit is not None and cut:
        reasoning = reasoning[:limit]
        text = text[: max(limit - len(reasoning), 0)]
    reasoning_tokens = scenario.reasoning_tokens or len(reasoning)
    return Plan(
        reasoning=reasoning,
        text=text,
        cut=cut,
        input_tokens=(
            scenario.input_tokens if scenario.input_tokens is not None else prompt_words(body)
        ),
        output_tokens=(
            scenario.output_tokens
            if scenario.output_tokens is not None
            else len(reasoning) + len(text)
        ),
        cached_tokens=scenario.cached_tokens,
        reasoning_tokens=reasoning_tokens,
        usage=scenario.include_usage,
    )


class Wire:
    """One wire format: its error bodies and the bytes of each stream event."""

    def __init__(self, plan: Plan, model: str, request_id: int, body: dict[str, Any]) -> None:
        self.plan = plan
        self.model = model
        self.request_id = request_id
        self.body = body

    @staticmethod
    def error(fault: str, scenario: Scenario, key: str) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def head(self) -> bytes:
        return b""

    def reasoning(self, piece: str) -> bytes:
        raise NotImplementedError

    def text(self, piece: str, last: bool) -> bytes:
        raise NotImplementedError

    def tail(self) -> bytes:
        raise NotImplementedError

    def error_event(self) -> bytes:
        raise NotImplementedError

    def malformed(self) -> bytes:
        return b'data: {"choices": [{"delta": {"content": "unterminated\n\n'


def _masked(key: str) -> str:
    return f"{key[:3]}****{key[-4:]}" if len(key) > 8 else "****"


class OpenAIWire(Wire):
    """Chat Completions: data-only SSE; usage in its own chunk after the finish; [DONE].

    https://platform.openai.com/docs/api-reference/chat-streaming
    """

    @staticmethod
    def error(fault: str, scenario: Scenario, key: str) -> tuple[int, dict[str, Any]]:
        shown = key if scenario.echo_key else _masked(key)
        status, kind, code, message = {
            "auth": (
                401,
                "invalid_request_error",
                "invalid_api_key",
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
            ),
            "rate_limit": (429, "requests", "rate_limit_exceeded", "Rate limit reached."),
            "server_error": (500, "server_error", None, "The server had an error."),
            "overloaded": (503, "server_error", None, "The engine is currently overloaded."),
            "unavailable": (503, "server_error", None, "Service unavailable."),
            "bad_request": (400, "invalid_request_error", None, "Invalid 'temperature'."),
            "context_too_long": (
                400,
                "invalid_request_error",
                "context_length_exceeded",
                "This model's maximum context length is 128000 tokens.",
            ),
        }[fault]
        error = {"message": message, "type": kind, "param": None, "code": code}
        return status, {"error": error}

    def head(self) -> bytes:
        self._prefix = (
            b'data: {"id":"chatcmpl-sim%d","object":"chat.completion.chunk","created":%d,'
            b'"model":%b,"choices":[' % (self.request_id, CREATED, dumps(self.model))
        )
        return (
            self._prefix
            + b'{"index":0,"delta":{"role":"assistant","content":""},'
            + (b'"finish_reason":null}]}\n\n')
        )

    def reasoning(self, piece: str) -> bytes:
        return (
            self._prefix
            + b'{"index":0,"delta":{"reasoning_content":'
            + dumps(piece)
            + b'},"finish_reason":null}]}\n\n'
        )

    def text(self, piece: str, last: bool) -> bytes:
        return (
            self._prefix
            + b'{"index":0,"delta":{"content":'
            + dumps(piece)
            + b'},"finish_reason":null}]}\n\n'
        )

    def tail(self) -> bytes:
        plan = self.plan
        reason = b"length" if plan.cut else b"stop"
        out = self._prefix + b'{"index":0,"delta":{},"finish_reason":"%b"}]}\n\n' % reason
        options = self.body.get("stream_options")
        if plan.usage and isinstance(options, dict) and options.get("include_usage"):
            usage = {
                "prompt_tokens": plan.input_tokens,
                "completion_tokens": plan.output_tokens,
                "total_tokens": plan.input_tokens + plan.output_tokens,
                "prompt_tokens_details": {"cached_tokens": plan.cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": plan.reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
            out += self._prefix + b'],"usage":%b}\n\n' % dumps(usage)
        return out + b"data: [DONE]\n\n"

    def error_event(self) -> bytes:
        error = {"message": "The server had an error.", "type": "server_error", "code": None}
        return b'data: {"error":%b}\n\ndata: [DONE]\n\n' % dumps(error)


class AnthropicWire(Wire):
    """Messages: `event:` + `data:` lines; thinking block, then text block; message_stop.

    https://docs.anthropic.com/en/api/messages-streaming (the events),
    https://docs.anthropic.com/en/api/errors (the error bodies, 529 overloaded_error)
    """

    @staticmethod
    def error(fault: str, scenario: Scenario, key: str) -> tuple[int, dict[str, Any]]:
        status, kind, message = {
            "auth": (401, "authentication_error", "invalid x-api-key"),
            "rate_limit": (429, "rate_limit_error", "Number of requests exceeds your rate limit."),
            "server_error": (500, "api_error", "Internal server error"),
            "overloaded": (529, "overloaded_error", "Overloaded"),
            "unavailable": (503, "api_error", "Service unavailable"),
            "bad_request": (400, "invalid_request_error", "messages: roles must alternate"),
            "context_too_long": (413, "request_too_large", "Request exceeds the maximum size"),
        }[fault]
        if fault == "auth" and scenario.echo_key:
            message = f"invalid x-api-key: {key}"
        return status, {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_sim",
        }

    _block = -1  # index of the open content block, -1 when none
    _block_kind = ""

    def _start_block(self, kind: str) -> bytes:
        out = self._stop_block()
        self._block += 1
        self._block_kind = kind
        block = (
            {"type": "thinking", "thinking": "", "signature": ""}
            if kind == "thinking"
            else {"type": "text", "text": ""}
        )
        start = {"type": "content_block_start", "index": self._block, "content_block": block}
        out += b"event: content_block_start\ndata: %b\n\n" % dumps(start)
        if self._block == 0:
            out += b'event: ping\ndata: {"type":"ping"}\n\n'
        self._delta_prefix = (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
            b'"delta":{"type":' % self._block
        )
        return out

    def _stop_block(self) -> bytes:
        if not self._block_kind:
            return b""
        out = b""
        if self._block_kind == "thinking":
            out += self._delta_prefix + b'"signature_delta","signature":"EqQBsim"}}\n\n'
        self._block_kind = ""
        return (
            out
            + b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
            % (self._block)
        )

    def head(self) -> bytes:
        plan = self.plan
        message: dict[str, Any] = {
            "id": f"msg_sim{self.request_id}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.model,
            "stop_reason": None,
            "stop_sequence": None,
        }
        if plan.usage:
            message["usage"] = {
                "input_tokens": max(plan.input_tokens - plan.cached_tokens, 0),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": plan.cached_tokens,
                "output_tokens": 1,
            }
        start = {"type": "message_start", "message": message}
        return b"event: message_start\ndata: %b\n\n" % dumps(start)

    def reasoning(self, piece: str) -> bytes:
        out = b"" if self._block_kind == "thinking" else self._start_block("thinking")
        return out + self._delta_prefix + b'"thinking_delta","thinking":%b}}\n\n' % dumps(piece)

    def text(self, piece: str, last: bool) -> bytes:
        out = b"" if self._block_kind == "text" else self._start_block("text")
        return out + self._delta_prefix + b'"text_delta","text":%b}}\n\n' % dumps(piece)

    def tail(self) -> bytes:
        plan = self.plan
        out = self._stop_block()
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {
                "stop_reason": "max_tokens" if plan.cut else "end_turn",
                "stop_sequence": None,
            },
        }
        if plan.usage:
            usage: dict[str, Any] = {"output_tokens": plan.output_tokens}
            if plan.reasoning_tokens:
                usage["output_tokens_details"] = {"thinking_tokens": plan.reasoning_tokens}
            delta["usage"] = usage
        out += b"event: message_delta\ndata: %b\n\n" % dumps(delta)
        return out + b'event: message_stop\ndata: {"type":"message_stop"}\n\n'

    def error_event(self) -> bytes:
        return (
            b'event: error\ndata: {"type":"error","error":'
            b'{"type":"overloaded_error","message":"Overloaded"}}\n\n'
        )

    def malformed(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n'


class GeminiWire(Wire):
    """streamGenerateContent?alt=sse: data-only, CRLF, the last chunk carries finishReason.

    https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent (the
    chunks), https://ai.google.dev/gemini-api/docs/troubleshooting (the error statuses)
    """

    @staticmethod
    def error(fault: str, scenario: Scenario, key: str) -> tuple[int, dict[str, Any]]:
        status, code_name, message = {
            "auth": (401, "UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
            "rate_limit": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted."),
            "server_error": (500, "INTERNAL", "An internal error has occurred."),
            "overloaded": (503, "UNAVAILABLE", "The model is overloaded."),
            "unavailable": (503, "UNAVAILABLE", "The service is currently unavailable."),
            "bad_request": (400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
            "context_too_long": (
                400,
                "INVALID_ARGUMENT",
                "The input token count exceeds the maximum number of tokens allowed.",
            ),
        }[fault]
        details: list[dict[str, Any]] = []
        if fault == "auth":
            if scenario.echo_key:
                message = f"API key not valid: {key}"
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            )
        if fault == "rate_limit" and scenario.retry_after is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{scenario.retry_after:g}s",
                }
            )
        error: dict[str, Any] = {"code": status, "message": message, "status": code_name}
        if details:
            error["details"] = details
        return status, {"error": error}

    def head(self) -> bytes:
        plan = self.plan
        self._suffix_early = self._suffix(self._metadata(final=False))
        self._thoughts_sent = False
        prompt = {"promptTokenCount": plan.input_tokens, "totalTokenCount": plan.input_tokens}
        self._suffix_no_usage = self._suffix(prompt if plan.usage else None)
        return b""

    def _metadata(self, *, final: bool) -> dict[str, Any] | None:
        plan = self.plan
        if not plan.usage:
            return None
        usage: dict[str, Any] = {"promptTokenCount": plan.input_tokens}
        if final:
            usage["candidatesTokenCount"] = plan.output_tokens - plan.reasoning_tokens
        if plan.cached_tokens:
            usage["cachedContentTokenCount"] = plan.cached_tokens
        total = plan.input_tokens + (plan.output_tokens if final else plan.reasoning_tokens)
        usage["totalTokenCount"] = total
        if plan.reasoning_tokens:
            usage["thoughtsTokenCount"] = plan.reasoning_tokens
        if final:
            usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": plan.input_tokens}]
        return usage

    def _suffix(self, usage: dict[str, Any] | None, finish: str | None = None) -> bytes:
        out = b'}],"role":"model"},'
        if finish:
            out += b'"finishReason":"%b",' % finish.encode()
        out += b'"index":0}]'
        if usage is not None:
            out += b',"usageMetadata":%b' % dumps(usage)
        model = dumps(self.model)
        return out + b',"modelVersion":%b,"responseId":"sim%d"}\r\n\r\n' % (model, self.request_id)

    _PREFIX = b'data: {"candidates":[{"content":{"parts":[{"text":'

    def reasoning(self, piece: str) -> bytes:
        self._thoughts_sent = True
        return self._PREFIX + dumps(piece) + b',"thought":true' + self._suffix_early

    def text(self, piece: str, last: bool) -> bytes:
        if last:
            return self._PREFIX + dumps(piece) + self._final_suffix()
        suffix = self._suffix_early if self._thoughts_sent else self._suffix_no_usage
        return self._PREFIX + dumps(piece) + suffix

    def _final_suffix(self) -> bytes:
        return self._suffix(self._metadata(final=True), "MAX_TOKENS" if self.plan.cut else "STOP")

    def tail(self) -> bytes:
        if self.plan.text:
            return b""  # the last text chunk carried the finishReason
        return self._PREFIX + b'""' + self._final_suffix()

    def error_event(self) -> bytes:
        error = {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}
        return b"data: %b\r\n\r\n" % dumps({"error": error})

    def malformed(self) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"text": "oops\r\n\r\n'


WIRES: dict[str, type[Wire]] = {
    "openai": OpenAIWire,
    "anthropic": AnthropicWire,
    "gemini": GeminiWire,
}
