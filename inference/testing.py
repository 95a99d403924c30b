"""The upstream simulator: a real HTTP/1.1 server on loopback that speaks the OpenAI, Anthropic
and Gemini streaming wire formats exactly as WIRE.md shows them, with scripted timing and faults.

Used by the tests, the relay benchmark and the offline demo. It is written on raw asyncio
(keep-alive, chunked streams, content-length bodies) so one core can serve a few hundred
concurrent streams; each answer piece costs one small bytes object and one write.

    sim = Simulator().start_in_thread()
    sim.set("gpt-x", Scenario(text="Hello there", ttft=0.2, interval=0.02))
    ...  # point a backend at sim.openai_base_url / sim.anthropic_base_url / sim.gemini_base_url
    sim.stop()

Command line: `python -m inference.testing --port 8765 --ttft 0.3 --interval 0.02 --tokens 256`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FAULTS = (
    "auth",
    "rate_limit",
    "server_error",
    "overloaded",
    "unavailable",
    "bad_request",
    "context_too_long",
    "error_event",
    "truncate",
    "drop",
    "malformed",
    "stall",
)
PRE_STREAM_FAULTS = frozenset(FAULTS[:7])  # answered with an HTTP error instead of a stream
MODELS = ("sim-fast", "sim-small", "sim-thinking")
MODELS_PAGE_SIZE = 2  # small, so that clients' paging is exercised
CREATED = 1_700_000_000

_PIECE = re.compile(r"\s*\S+|\s+$")


def split_pieces(text: str) -> list[str]:
    """Word-sized pieces that keep their leading spaces: "".join(pieces) == text."""
    return _PIECE.findall(text)


@dataclass
class Scenario:
    """What the simulator answers for one model: the text, its timing, usage and faults.

    Usage left as None is computed: input = whitespace-split words of the request's
    messages, output = number of pieces (reasoning included). `reasoning_tokens` of 0 with
    reasoning text reports the number of reasoning pieces.

    Faults: the pre-stream ones (auth ... context_too_long) answer the first `fault_count`
    requests for the model (-1: all of them) with the wire's own HTTP error; the mid-stream
    ones (error_event, truncate, drop, malformed, stall) strike every request after
    `fault_after` answer pieces. `retry_after` goes out as a retry-after header on 429, 503
    and 529 (on Gemini's 429 as RetryInfo.retryDelay in the body, as Google does);
    `echo_key` makes the 401 body repeat the key it got.

    `raw` bypasses the wire formats: these exact bytes are the response body, with status
    `raw_status`. A 200 event stream is sent chunked, split every `raw_chunk_size` bytes
    with `interval` between the chunks; any other status or content type as one body.
    """

    text: str = "The quick brown fox jumps over the lazy dog."
    reasoning: str = ""
    chunks: list[str] | None = None
    reasoning_chunks: list[str] | None = None
    ttft: float = 0.0
    interval: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    include_usage: bool = True
    fault: str | None = None
    fault_after: int = 0
    fault_count: int = 1
    retry_after: float | None = None
    echo_key: bool = False
    raw: bytes | None = None
    raw_status: int = 200
    raw_chunk_size: int | None = None
    raw_content_type: str = "text/event-stream"

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {FAULTS}")

    def pieces(self) -> list[str]:
        """The answer, piece by piece."""
        return list(self.chunks) if self.chunks is not None else split_pieces(self.text)

    def reasoning_pieces(self) -> list[str]:
        """The thinking, piece by piece."""
        if self.reasoning_chunks is not None:
            return list(self.reasoning_chunks)
        return split_pieces(self.reasoning)


@dataclass
class RequestRecord:
    """One request the simulator received, and how its response went.

    `first_byte` is when the first answer or reasoning piece was written; `completed` means
    the whole (possibly faulty) response was written; `disconnected` that the client left
    before that.
    """

    id: int
    wire: str  # "openai" | "anthropic" | "gemini" | "models"
    model: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    started: float
    first_byte: float | None = None
    ended: float | None = None
    completed: bool = False
    disconnected: bool = False


# --- HTTP plumbing ---------------------------------------------------------------------------

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}
_END = b"0\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    # An empty chunk would end the body, so there is none.
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _json_response(status: int, payload: object, extra: dict[str, str] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    return _head(status, {**headers, **(extra or {})}) + body


def _stream_head() -> bytes:
    return _head(
        200,
        {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
        },
    )


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        body = b"".join(parts)
    else:
        length = int(headers.get("content-length") or 0)
        body = await reader.readexactly(length) if length else b""
    return _Request(method, target, headers, body)


def _texts(value: object) -> Iterator[str]:
    """The text of messages, system prompts and parts, in any of the three dialects."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key in ("content", "text", "parts"):
            if key in value:
                yield from _texts(value[key])


def _messages(body: dict[str, Any]) -> object:
    return body.get("messages") or body.get("contents")


def _prompt_words(body: dict[str, Any]) -> int:
    keys = ("system", "messages", "systemInstruction", "contents")
    return sum(len(text.split()) for key in keys for text in _texts(body.get(key)))


def _max_tokens(body: dict[str, Any]) -> int | None:
    config = body.get("generationConfig")
    for value in (
        body.get("max_completion_tokens"),
        body.get("max_tokens"),
        config.get("maxOutputTokens") if isinstance(config, dict) else None,
    ):
        if isinstance(value, int) and value >= 0:
            return value
    return None


def _key_of(headers: dict[str, str], query: dict[str, str]) -> str:
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:]
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or query.get("key", "")


# --- what one answer looks like ----------------------------------------------------------------


@dataclass
class _Plan:
    """The pieces to send and the usage to report, after the request's token limit."""

    reasoning: list[str]
    text: list[str]
    cut: bool  # the token limit cut the answer short
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    usage: bool  # report usage at all


def _plan(scenario: Scenario, body: dict[str, Any]) -> _Plan:
    reasoning, text = scenario.reasoning_pieces(), scenario.pieces()
    limit = _max_tokens(body)
    cut = limit is not None and len(reasoning) + len(text) > limit
    if limit is not None and cut:
        reasoning = reasoning[:limit]
        text = text[: max(limit - len(reasoning), 0)]
    reasoning_tokens = scenario.reasoning_tokens or len(reasoning)
    return _Plan(
        reasoning=reasoning,
        text=text,
        cut=cut,
        input_tokens=(
            scenario.input_tokens if scenario.input_tokens is not None else _prompt_words(body)
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


class _Wire:
    """One wire format: its error bodies and the bytes of each stream event."""

    def __init__(self, plan: _Plan, model: str, request_id: int, body: dict[str, Any]) -> None:
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


class _OpenAIWire(_Wire):
    """Chat Completions: data-only SSE; usage in its own chunk after the finish; [DONE]."""

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
            b'"model":%b,"choices":[' % (self.request_id, CREATED, _dumps(self.model))
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
            + _dumps(piece)
            + b'},"finish_reason":null}]}\n\n'
        )

    def text(self, piece: str, last: bool) -> bytes:
        return (
            self._prefix
            + b'{"index":0,"delta":{"content":'
            + _dumps(piece)
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
            out += self._prefix + b'],"usage":%b}\n\n' % _dumps(usage)
        return out + b"data: [DONE]\n\n"

    def error_event(self) -> bytes:
        error = {"message": "The server had an error.", "type": "server_error", "code": None}
        return b'data: {"error":%b}\n\ndata: [DONE]\n\n' % _dumps(error)


class _AnthropicWire(_Wire):
    """Messages: `event:` + `data:` lines; thinking block, then text block; message_stop."""

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
        out += b"event: content_block_start\ndata: %b\n\n" % _dumps(start)
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
        return b"event: message_start\ndata: %b\n\n" % _dumps(start)

    def reasoning(self, piece: str) -> bytes:
        out = b"" if self._block_kind == "thinking" else self._start_block("thinking")
        return out + self._delta_prefix + b'"thinking_delta","thinking":%b}}\n\n' % _dumps(piece)

    def text(self, piece: str, last: bool) -> bytes:
        out = b"" if self._block_kind == "text" else self._start_block("text")
        return out + self._delta_prefix + b'"text_delta","text":%b}}\n\n' % _dumps(piece)

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
        out += b"event: message_delta\ndata: %b\n\n" % _dumps(delta)
        return out + b'event: message_stop\ndata: {"type":"message_stop"}\n\n'

    def error_event(self) -> bytes:
        return (
            b'event: error\ndata: {"type":"error","error":'
            b'{"type":"overloaded_error","message":"Overloaded"}}\n\n'
        )

    def malformed(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n'


class _GeminiWire(_Wire):
    """streamGenerateContent?alt=sse: data-only, CRLF, the last chunk carries finishReason."""

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
            out += b',"usageMetadata":%b' % _dumps(usage)
        model = _dumps(self.model)
        return out + b',"modelVersion":%b,"responseId":"sim%d"}\r\n\r\n' % (model, self.request_id)

    _PREFIX = b'data: {"candidates":[{"content":{"parts":[{"text":'

    def reasoning(self, piece: str) -> bytes:
        self._thoughts_sent = True
        return self._PREFIX + _dumps(piece) + b',"thought":true' + self._suffix_early

    def text(self, piece: str, last: bool) -> bytes:
        if last:
            return self._PREFIX + _dumps(piece) + self._final_suffix()
        suffix = self._suffix_early if self._thoughts_sent else self._suffix_no_usage
        return self._PREFIX + _dumps(piece) + suffix

    def _final_suffix(self) -> bytes:
        return self._suffix(self._metadata(final=True), "MAX_TOKENS" if self.plan.cut else "STOP")

    def tail(self) -> bytes:
        if self.plan.text:
            return b""  # the last text chunk carried the finishReason
        return self._PREFIX + b'""' + self._final_suffix()

    def error_event(self) -> bytes:
        error = {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}
        return b"data: %b\r\n\r\n" % _dumps({"error": error})

    def malformed(self) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"text": "oops\r\n\r\n'


_WIRES: dict[str, type[_Wire]] = {
    "openai": _OpenAIWire,
    "anthropic": _AnthropicWire,
    "gemini": _GeminiWire,
}


# --- the server --------------------------------------------------------------------------------


class Simulator:
    """A loopback HTTP/1.1 server speaking the three streaming wire formats on one port."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, default: Scenario | None = None
    ) -> None:
        self._host = host
        self._port = port
        self.default = default or Scenario()
        self._scenarios: dict[str, Scenario] = {}
        self._fault_counts: dict[str, int] = {}
        self._records: list[RequestRecord] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    # -- configuration and inspection (any thread) --

    def set(self, model: str, scenario: Scenario) -> None:
        """Answer requests naming `model` with `scenario` (others get the default)."""
        with self._lock:
            self._scenarios[model] = scenario
            self._fault_counts.pop(model, None)

    def reset(self) -> None:
        """Forget scenarios, fault counters and recorded requests."""
        with self._lock:
            self._scenarios.clear()
            self._fault_counts.clear()
            self._records.clear()

    @property
    def port(self) -> int:
        """The listening port (known once serving)."""
        return self._port

    @property
    def base_url(self) -> str:
        """http://HOST:PORT"""
        return f"http://{self._host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for an OpenAI-compatible host (ends in /v1)."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for the Anthropic API (the root)."""
        return self.base_url

    @property
    def gemini_base_url(self) -> str:
        """Base URL for the Gemini API (the root)."""
        return self.base_url

    @property
    def models(self) -> list[str]:
        """The model names the listings return."""
        with self._lock:
            return sorted(set(MODELS) | set(self._scenarios))

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests received so far."""
        with self._lock:
            return [dataclasses.replace(record) for record in self._records]

    def stats(self, since: int = 0) -> dict[str, Any]:
        """Counts of the requests so far, and the timings of those after request id `since`.

        Served as JSON at GET /_stats?since=N, for a simulator in another process (the relay
        benchmark). Times are `time.monotonic()` seconds, comparable across processes on one
        machine; `prompt` is the start of the request's last message (a tag to match it by).
        """
        with self._lock:
            records = [r for r in self._records if r.wire != "models"]
            rows = [
                {
                    "id": r.id,
                    "wire": r.wire,
                    "model": r.model,
                    "prompt": next(reversed(list(_texts(_messages(r.body)))), "")[:100],
                    "started": r.started,
                    "first_byte": r.first_byte,
                    "ended": r.ended,
                    "completed": r.completed,
                    "disconnected": r.disconnected,
                }
                for r in records
                if r.id > since
            ]
            return {
                "now": time.monotonic(),
                "requests": len(records),
                "open": sum(1 for r in records if r.ended is None),
                "completed": sum(1 for r in records if r.completed),
                "disconnected": sum(1 for r in records if r.disconnected),
                "records": rows,
            }

    def wait_for(
        self, predicate: Callable[[list[RequestRecord]], bool], timeout: float = 5.0
    ) -> bool:
        """Poll until `predicate(requests)` holds; False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self.requests):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    # -- running --

    async def serve(self) -> None:
        """Serve in the running loop until `stop()`."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, self._host, self._port, backlog=2048)
        self._port = server.sockets[0].getsockname()[1]
        self._listening.set()
        try:
            await self._stop.wait()
        finally:
            self._listening.clear()
            server.close()
            for writer, task in list(self._connections.items()):
                writer.transport.abort()
                task.cancel()
            await asyncio.gather(*self._connections.values(), return_exceptions=True)
            await server.wait_closed()

    def start_in_thread(self) -> Simulator:
        """Serve from a daemon thread with its own loop; returns once listening."""

        def run() -> None:
            try:
                asyncio.run(self.serve())
            except BaseException as exc:  # reported to start_in_thread's caller
                self._thread_error = exc
                self._listening.set()

        self._thread = threading.Thread(target=run, name="upstream-simulator", daemon=True)
        self._thread.start()
        if not self._listening.wait(timeout=10) or self._thread_error is not None:
            raise RuntimeError(f"the simulator did not start: {self._thread_error!r}")
        return self

    def stop(self) -> None:
        """Stop serving (from any thread) and close every connection."""
        loop, stop = self._loop, self._stop
        if loop is None or stop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            stop.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    # -- one connection --

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = task
        try:
            while True:
                request = await _read_request(reader)
                if request is None or not await self._respond(request, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels a connection; ending quietly spares asyncio's stream
            # callback (3.11) from logging the cancelled task as an error.
            pass
        except ValueError:  # a request we cannot parse
            with contextlib.suppress(ConnectionError):
                writer.write(_json_response(400, {"error": {"message": "malformed request"}}))
        finally:
            self._connections.pop(writer, None)
            writer.close()

    def _scenario(self, model: str) -> Scenario:
        with self._lock:
            return self._scenarios.get(model, self.default)

    def _take_fault(self, model: str, scenario: Scenario) -> bool:
        with self._lock:
            count = self._fault_counts.get(model, 0)
            if scenario.fault_count >= 0 and count >= scenario.fault_count:
                return False
            self._fault_counts[model] = count + 1
            return True

    def _record(
        self, wire: str, model: str, path: str, request: _Request, body: Any
    ) -> RequestRecord:
        record = RequestRecord(
            id=next(self._ids),
            wire=wire,
            model=model,
            path=path,
            headers=dict(request.headers),
            body=body if isinstance(body, dict) else {},
            started=time.monotonic(),
        )
        with self._lock:
            self._records.append(record)
        return record

    def _finish(self, record: RequestRecord, *, completed: bool, disconnected: bool) -> None:
        """Mark the record ended, once. Called before a response's last write, so a client
        that has read the whole response always finds its record complete."""
        with self._lock:
            if record.ended is not None:
                return
            record.ended = time.monotonic()
            record.completed = completed
            record.disconnected = disconnected

    async def _respond(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        url = urlsplit(request.target)
        path, query = url.path, dict(parse_qsl(url.query))
        keep_alive = request.headers.get("connection", "").lower() != "close"
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            writer.write(_json_response(400, {"error": {"message": "invalid JSON body"}}))
            return keep_alive

        if request.method == "GET" and path == "/_stats":
            writer.write(_json_response(200, self.stats(since=int(query.get("since") or 0))))
            return keep_alive

        if request.method == "GET" and path in ("/v1/models", "/v1beta/models"):
            record = self._record("models", "", path, request, body)
            self._finish(record, completed=True, disconnected=False)
            writer.write(_json_response(200, self._listing(path, request.headers, query)))
            return keep_alive

        wire, model = self._route(request.method, path, body)
        if wire is None or (wire == "gemini" and query.get("alt") != "sse"):
            error = {"message": f"no route for {request.method} {path} (alt=sse is required)"}
            writer.write(_json_response(404, {"error": error}))
            return keep_alive

        record = self._record(wire, model, path, request, body)
        scenario = self._scenario(model)
        if scenario.raw is not None:
            return await self._send_raw(record, scenario, reader, writer) and keep_alive
        wire_type = _WIRES[wire]
        fault = scenario.fault
        if fault in PRE_STREAM_FAULTS and fault and self._take_fault(model, scenario):
            status, payload = wire_type.error(fault, scenario, _key_of(request.headers, query))
            extra = {}
            # Gemini gives no retry-after header on 429 but a RetryInfo in the body.
            gemini_429 = wire == "gemini" and status == 429
            if scenario.retry_after is not None and status in (429, 503, 529) and not gemini_429:
                extra["retry-after"] = f"{scenario.retry_after:g}"
            self._finish(record, completed=True, disconnected=False)
            writer.write(_json_response(status, payload, extra))
            return keep_alive
        stream = wire_type(_plan(scenario, body), model, record.id, body)
        writer.write(_stream_head() + _chunk(stream.head()))
        ok = await self._watch(record, reader, self._write_stream(record, scenario, stream, writer))
        return ok and keep_alive

    @staticmethod
    def _route(method: str, path: str, body: Any) -> tuple[str | None, str]:
        if method != "POST":
            return None, ""
        model = body.get("model", "") if isinstance(body, dict) else ""
        if path == "/v1/chat/completions":
            return "openai", str(model)
        if path == "/v1/messages":
            return "anthropic", str(model)
        prefix, suffix = "/v1beta/models/", ":streamGenerateContent"
        if path.startswith(prefix) and path.endswith(suffix):
            return "gemini", path[len(prefix) : -len(suffix)]
        return None, ""

    def _listing(self, path: str, headers: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
        models = self.models
        if path == "/v1beta/models":
            entries = [
                {
                    "name": f"models/{m}",
                    "displayName": m,
                    "inputTokenLimit": 1_048_576,
                    "outputTokenLimit": 65_536,
                    "supportedGenerationMethods": ["generateContent", "countTokens"],
                }
                for m in models
            ]
            entries.append(
                {"name": "models/sim-embedding", "supportedGenerationMethods": ["embedContent"]}
            )
            start = int(query.get("pageToken") or 0)
            size = min(int(query.get("pageSize") or 50), MODELS_PAGE_SIZE)
            page: dict[str, Any] = {"models": entries[start : start + size]}
            if start + size < len(entries):
                page["nextPageToken"] = str(start + size)
            return page
        if "anthropic-version" in headers:
            after = query.get("after_id")
            start = models.index(after) + 1 if after in models else 0
            size = min(int(query.get("limit") or 20), MODELS_PAGE_SIZE)
            chosen = models[start : start + size]
            return {
                "data": [
                    {
                        "type": "model",
                        "id": m,
                        "display_name": m,
                        "created_at": "2025-01-01T00:00:00Z",
                        "max_input_tokens": 200_000,
                        "max_tokens": 8_192,
                    }
                    for m in chosen
                ],
                "has_more": start + size < len(models),
                "first_id": chosen[0] if chosen else None,
                "last_id": chosen[-1] if chosen else None,
            }
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": CREATED, "owned_by": "simulator"}
                for m in models
            ],
        }

    async def _watch(
        self,
        record: RequestRecord,
        reader: asyncio.StreamReader,
        writing: Coroutine[Any, Any, str],
    ) -> bool:
        """Run the writing coroutine while watching the client: a read during a response only
        returns at EOF (HTTP/1.1 clients do not pipeline), which means the client left."""
        writer_task = asyncio.ensure_future(writing)
        eof_task = asyncio.ensure_future(reader.read(1))
        try:
            await asyncio.wait({writer_task, eof_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (writer_task, eof_task):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                        await task
            if eof_task.done() and not eof_task.cancelled():
                eof_task.exception()  # a reset while watching: retrieved, so never logged
        if writer_task.done() and not writer_task.cancelled():
            error = writer_task.exception()
            if error is None:
                outcome: str = writer_task.result()
                self._finish(record, completed=outcome == "completed", disconnected=False)
                return outcome == "completed"
            if not isinstance(error, ConnectionError):
                raise error
        self._finish(record, completed=False, disconnected=True)
        return False

    def _first_byte(self, record: RequestRecord) -> None:
        with self._lock:
            record.first_byte = time.monotonic()

    async def _write_stream(
        self, record: RequestRecord, scenario: Scenario, stream: _Wire, writer: asyncio.StreamWriter
    ) -> str:
        """Write the pieces on schedule; "completed", or "dropped" when the fault aborts."""
        loop = asyncio.get_running_loop()
        write = writer.write
        plan = stream.plan
        fault = scenario.fault if scenario.fault not in PRE_STREAM_FAULTS else None
        fault_at = scenario.fault_after if fault is not None else -1
        start = loop.time() + scenario.ttft
        interval = scenario.interval
        sent = 0
        for piece in plan.reasoning:
            delay = start + sent * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            write(_chunk(stream.reasoning(piece)))
            if not sent:
                self._first_byte(record)
            sent += 1
            await writer.drain()
        last_index = len(plan.text) - 1 if fault in (None, "malformed") else -1
        for index, piece in enumerate(plan.text):
            delay = start + sent * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if index == fault_at:
                if fault != "malformed":
                    return await self._fault(fault, record, stream, writer)
                write(_chunk(stream.malformed()))
            write(_chunk(stream.text(piece, index == last_index)))
            if not sent:
                self._first_byte(record)
            sent += 1
            await writer.drain()
        if fault is not None and fault_at >= len(plan.text):
            if fault != "malformed":
                return await self._fault(fault, record, stream, writer)
            write(_chunk(stream.malformed()))
        self._finish(record, completed=True, disconnected=False)
        write(_chunk(stream.tail()) + _END)
        await writer.drain()
        return "completed"

    async def _fault(
        self, fault: str | None, record: RequestRecord, stream: _Wire, writer: asyncio.StreamWriter
    ) -> str:
        if fault == "stall":
            await asyncio.get_running_loop().create_future()  # until the client leaves
        if fault == "drop":
            self._finish(record, completed=False, disconnected=False)
            writer.transport.abort()
            return "dropped"
        self._finish(record, completed=True, disconnected=False)
        if fault == "error_event":
            writer.write(_chunk(stream.error_event()) + _END)
        elif fault == "truncate":
            writer.write(_END)  # a clean end of the body, without the terminator
        await writer.drain()
        return "completed"

    async def _send_raw(
        self,
        record: RequestRecord,
        scenario: Scenario,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        raw = scenario.raw or b""
        if scenario.raw_status != 200 or scenario.raw_content_type != "text/event-stream":
            content_type = scenario.raw_content_type
            if content_type == "text/event-stream":
                content_type = "application/json"  # an error status carries a JSON body
            extra = {"content-type": content_type, "content-length": str(len(raw))}
            if scenario.retry_after is not None:
                extra["retry-after"] = f"{scenario.retry_after:g}"
            self._finish(record, completed=True, disconnected=False)
            writer.write(_head(scenario.raw_status, extra) + raw)
            return True

        async def write_raw() -> str:
            size = scenario.raw_chunk_size or len(raw) or 1
            if scenario.ttft:
                await asyncio.sleep(scenario.ttft)
            for offset in range(0, len(raw), size):
                if offset and scenario.interval:
                    await asyncio.sleep(scenario.interval)
                writer.write(_chunk(raw[offset : offset + size]))
                if not offset:
                    self._first_byte(record)
                await writer.drain()
            self._finish(record, completed=True, disconnected=False)
            writer.write(_END)
            await writer.drain()
            return "completed"

        writer.write(_stream_head())
        return await self._watch(record, reader, write_raw())


# --- command line ----------------------------------------------------------------------------

_WORDS = (
    "the",
    "model",
    "streams",
    "a",
    "steady",
    "answer",
    "so",
    "the",
    "relay",
    "can",
    "be",
    "measured",
    "token",
    "by",
    "token",
)


def default_text(tokens: int) -> str:
    """A text of `tokens` word pieces."""
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(tokens))


def main(argv: list[str] | None = None) -> None:
    """Serve forever with a default scenario built from the arguments."""
    parser = argparse.ArgumentParser(
        description="Upstream LLM simulator (OpenAI, Anthropic, Gemini)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--ttft", type=float, default=0.3, help="seconds before the first token")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument("--tokens", type=int, default=256, help="answer length in tokens")
    parser.add_argument("--reasoning-tokens", type=int, default=0, help="thinking tokens first")
    args = parser.parse_args(argv)
    scenario = Scenario(
        text=default_text(args.tokens),
        reasoning=default_text(args.reasoning_tokens),
        ttft=args.ttft,
        interval=args.interval,
    )
    simulator = Simulator(args.host, args.port, default=scenario)

    async def run() -> None:
        serving = asyncio.ensure_future(simulator.serve())
        await asyncio.to_thread(simulator._listening.wait, 10)
        print(f"Upstream simulator listening on {simulator.base_url}", flush=True)
        print(f"  OpenAI:    {simulator.openai_base_url}", flush=True)
        print(f"  Anthropic: {simulator.anthropic_base_url}", flush=True)
        print(f"  Gemini:    {simulator.gemini_base_url}", flush=True)
        await serving

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
