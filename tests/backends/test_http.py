"""The shared HTTP machinery: redaction, retry-after, error mapping, retry policy, SSE framing,
and the per-loop client."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from inference.backends import http
from inference.backends.base import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    ContextTooLongError,
    Event,
    HostConfig,
    OverloadedError,
    RateLimitedError,
    Status,
    TextDelta,
    UpstreamError,
    UpstreamTimeoutError,
)
from inference.simulator import Simulator

KEY = "sk-live-abc/123+xyz"
errors = http.ErrorMapper("Test API", KEY)


# --- redaction ---------------------------------------------------------------------------------


def test_redact_masks_raw_and_url_encoded_forms() -> None:
    text = f"bad key {KEY} in url ?key=sk-live-abc%2F123%2Bxyz"
    assert http.redact(text, KEY) == "bad key [redacted] in url ?key=[redacted]"
    assert http.redact("nothing here", KEY) == "nothing here"
    assert http.redact("no secret configured", "") == "no secret configured"


def test_long_messages_are_redacted_before_they_are_cut() -> None:
    body = json.dumps({"error": {"message": "x" * 295 + KEY, "type": "invalid_request_error"}})
    error = errors.from_response(401, {}, body.encode())
    assert "sk-live" not in error.message
    assert len(error.message) < 360


# --- retry-after -------------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    assert http.parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert http.parse_retry_after({"retry-after": "2"}) == 2.0
    assert http.parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert http.parse_retry_after({"retry-after": "soon"}) is None
    assert http.parse_retry_after({}) is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (http.parse_retry_after({"retry-after": future}) or 0) <= 30
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert http.parse_retry_after({"retry-after": past}) == 0.0


def test_retry_delay_backoff_and_hints() -> None:
    for retry, (low, high) in enumerate([(0.375, 0.5), (0.75, 1.0), (1.5, 2.0), (3, 4), (6, 8)]):
        assert low <= (http.retry_delay(retry, None) or 0) <= high
    assert 6 <= (http.retry_delay(10, None) or 0) <= 8  # capped at 8 s
    assert http.retry_delay(0, 3.0) == 3.0
    assert http.retry_delay(0, 60.0) == 60.0
    assert http.retry_delay(0, 61.0) is None  # over a minute: do not retry
    assert 0.375 <= (http.retry_delay(0, 0.0) or 0) <= 0.5  # zero means "use backoff"


# --- error mapping -----------------------------------------------------------------------------


def openai_body(message: str, type_: str, code: str | int | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "code": code}}).encode()


def anthropic_body(type_: str, message: str = "m") -> bytes:
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}}).encode()


def google_body(code: int, status: str, *details: dict[str, object]) -> bytes:
    error = {"code": code, "message": "g", "status": status, "details": list(details)}
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            openai_body("Incorrect API key", "invalid_request_error", "invalid_api_key"),
            AuthenticationError,
        ),
        (403, anthropic_body("permission_error"), AuthenticationError),
        (429, openai_body("slow down", "requests", "rate_limit_exceeded"), RateLimitedError),
        (529, anthropic_body("overloaded_error", "Overloaded"), OverloadedError),
        (503, google_body(503, "UNAVAILABLE"), OverloadedError),
        (500, openai_body("oops", "server_error"), UpstreamError),
        (502, b"<html><body>Bad Gateway</body></html>", UpstreamError),
        (
            400,
            openai_body("too long", "invalid_request_error", "context_length_exceeded"),
            ContextTooLongError,
        ),
        (413, anthropic_body("request_too_large"), ContextTooLongError),
        (400, anthropic_body("invalid_request_error"), BadRequestError),
        (404, anthropic_body("not_found_error"), BadRequestError),
        (
            422,
            json.dumps({"detail": [{"loc": ["body", "x"], "msg": "extra"}]}).encode(),
            BadRequestError,
        ),
        (
            400,
            google_body(
                400,
                "INVALID_ARGUMENT",
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
            ),
            AuthenticationError,
        ),
        (408, b"", UpstreamError),
    ],
)
def test_error_from_status_and_type(status: int, body: bytes, expected: type[BackendError]) -> None:
    error = errors.from_response(status, {}, body)
    assert type(error) is expected
    assert error.status == status
    assert error.message.startswith(f"Test API: {expected.label} (HTTP {status})")
    assert "<html" not in error.message


def test_error_message_is_short_and_fit_to_show() -> None:
    error = errors.from_response(
        429, {"retry-after": "3"}, openai_body("Rate   limit\n" * 100, "requests")
    )
    assert error.message.startswith("Test API: rate limited (HTTP 429): Rate limit Rate limit")
    assert error.message.endswith("…") and len(error.message) <= 340
    assert error.retry_after == 3.0 and error.retryable


def test_google_retry_info_and_daily_quota() -> None:
    retry: dict[str, object] = {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "37s",
    }
    error = errors.from_response(429, {}, google_body(429, "RESOURCE_EXHAUSTED", retry))
    assert isinstance(error, RateLimitedError) and error.retry_after == 37.0 and error.retryable
    quota: dict[str, object] = {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
    }
    daily = errors.from_response(429, {}, google_body(429, "RESOURCE_EXHAUSTED", quota, retry))
    assert isinstance(daily, RateLimitedError) and not daily.retryable


def test_openai_insufficient_quota_is_not_retried() -> None:
    error = errors.from_response(
        429, {}, openai_body("billing", "insufficient_quota", "insufficient_quota")
    )
    assert isinstance(error, RateLimitedError) and not error.retryable


def test_x_should_retry_header_wins() -> None:
    assert not errors.from_response(500, {"x-should-retry": "false"}, b"").retryable
    assert errors.from_response(400, {"x-should-retry": "true"}, b"").retryable


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"error": {"message": "bad", "type": "BadRequestError", "param": None, "code": 400}},
            BadRequestError,
        ),
        ({"error": {"code": 502, "message": "provider down", "metadata": {}}}, UpstreamError),
        ({"error": "CUDA out of memory"}, UpstreamError),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            OverloadedError,
        ),
        (
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
            RateLimitedError,
        ),
        (
            {"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}},
            RateLimitedError,
        ),
        (
            {
                "error": {
                    "message": "x",
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                }
            },
            ContextTooLongError,
        ),
        ([{"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}], UpstreamError),
    ],
)
def test_error_events_in_stream(payload: object, expected: type[BackendError]) -> None:
    error = errors.from_payload(payload)
    assert type(error) is expected
    assert "(in stream)" in error.message


def test_transport_errors() -> None:
    config = HostConfig(kind="openai", base_url="http://x", connect_timeout=3, read_timeout=7)
    request = httpx.Request("GET", "http://x")
    read_timeout = errors.from_transport(
        httpx.ReadTimeout("t", request=request), config, in_body=True
    )
    assert isinstance(read_timeout, UpstreamTimeoutError) and not read_timeout.retryable
    assert read_timeout.message == "Test API: timeout (no data for 7 s)"
    connect = errors.from_transport(
        httpx.ConnectTimeout("t", request=request), config, in_body=False
    )
    assert isinstance(connect, UpstreamTimeoutError) and connect.retryable
    refused = errors.from_transport(
        httpx.ConnectError("refused", request=request), config, in_body=False
    )
    assert type(refused) is UpstreamError and refused.retryable
    broken = httpx.RemoteProtocolError("peer closed connection", request=request)
    assert errors.from_transport(broken, config, in_body=True).label == "truncated stream"
    assert type(errors.from_transport(broken, config, in_body=False)) is UpstreamError


# --- retry policy ------------------------------------------------------------------------------


async def test_retries_only_before_the_first_token(sleeps: list[float]) -> None:
    config = HostConfig(kind="openai", base_url="http://x")
    attempts: list[int] = []

    async def attempt(deadline: float) -> AsyncIterator[Event]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RateLimitedError("limited", retry_after=0.2)
        yield TextDelta("a")
        raise UpstreamError("broke")

    events: list[Event] = []
    with pytest.raises(UpstreamError, match="broke"):
        async for event in http.with_retries(attempt, config):  # type: ignore[arg-type]
            events.append(event)
    assert events == [
        Status("retrying", detail="rate limited; retrying in 0.2 s"),
        Status("waiting", detail="attempt 2"),
        TextDelta("a"),
    ]
    assert sleeps == [0.2] and len(attempts) == 2


async def test_injected_sleep_and_no_retry_past_the_deadline() -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    async def attempt(deadline: float) -> AsyncIterator[Event]:
        raise OverloadedError("busy", retry_after=5)
        yield TextDelta("never")

    config = HostConfig(kind="openai", base_url="http://x", total_timeout=10)
    with pytest.raises(OverloadedError):
        async for _ in http.with_retries(attempt, config, sleep=sleep):  # type: ignore[arg-type]
            pass
    assert waited == [5, 5]
    short = HostConfig(kind="openai", base_url="http://x", total_timeout=4)
    with pytest.raises(OverloadedError):
        async for _ in http.with_retries(attempt, short, sleep=sleep):  # type: ignore[arg-type]
            pass
    assert waited == [5, 5]  # a 5 s wait would end past the 4 s deadline: no retry


# --- SSE framing -------------------------------------------------------------------------------


async def events_of(chunks: list[bytes]) -> list[tuple[str, str]]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return [(e.event, e.data) async for e in http.sse_from_bytes(source())]


STREAM = (
    ": comment first\r\n"
    'data: {"a": "x\u2028y\u2029z"}\r\n\r\n'
    "event: named\n"
    "data: line one\n"
    "data:line two\n\n"
    "data: cr only\r\r"
    "id: 7\n\n"  # httpx-sse dispatches this with empty data; the readers skip it
    "data: last\n\n"
).encode()
EXPECTED = [
    ("message", '{"a": "x\u2028y\u2029z"}'),
    ("named", "line one\nline two"),
    ("message", "cr only"),
    ("message", ""),
    ("message", "last"),
]


async def test_sse_framing_lf_cr_crlf_comments_multiline_and_u2028() -> None:
    assert await events_of([STREAM]) == EXPECTED


async def test_sse_framing_survives_any_split() -> None:
    for size in (1, 2, 3, 5, 7):
        chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
        assert await events_of(chunks) == EXPECTED, size


async def test_an_event_cut_before_its_blank_line_is_dropped() -> None:
    assert await events_of([b"data: complete\n\ndata: cut"]) == [("message", "complete")]


# --- the shared client -------------------------------------------------------------------------


def test_one_pool_per_event_loop() -> None:
    async def grab() -> list[httpx.AsyncClient]:
        clients = [http.shared_client() for _ in range(40)]
        await http.aclose_shared_client()
        return clients

    first, second = asyncio.run(grab()), asyncio.run(grab())
    assert len({id(c) for c in first}) == 16  # the pool's clients, used in turn
    assert not {id(c) for c in first} & {id(c) for c in second}
    assert all(c.is_closed for c in first)


def test_pool_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert http.pool_limits().max_connections == 1000
    assert http.pool_limits().max_keepalive_connections == 200
    monkeypatch.setenv("PLAYGROUND_HTTP_MAX_CONNECTIONS", "50")
    assert http.pool_limits().max_connections == 50


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_a_finished_stream_gives_its_connection_back(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Reading past the terminator lets the pool reuse the connection (no new TCP/TLS)."""
    from inference.backends import backend_for
    from inference.backends.base import ChatRequest, HostConfig, Message

    monkeypatch.setenv("PLAYGROUND_HTTP_POOL_SHARDS", "1")
    await http.aclose_shared_client()
    urls = {
        "openai": sim.openai_base_url,
        "anthropic": sim.anthropic_base_url,
        "gemini": sim.gemini_base_url,
    }
    backend = backend_for(HostConfig(kind=kind, base_url=urls[kind], api_key="k"))  # type: ignore[arg-type]
    request = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))
    before = set(sim._connections)  # other tests' idle connections may linger
    for _ in range(3):
        events = [event async for event in backend.stream(request)]
        assert events
    await asyncio.sleep(0.05)
    assert len(set(sim._connections) - before) == 1
    await http.aclose_shared_client()
