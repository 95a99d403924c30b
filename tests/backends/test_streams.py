"""Each HTTP backend against the upstream simulator, over real loopback HTTP: the exact event
sequences, usage, request shapes, every fault, retries, redaction and model listing."""

from __future__ import annotations

import dataclasses
import logging
import traceback
from contextlib import aclosing
from typing import Any

import pytest

from inference.backends.base import (
    AuthenticationError,
    Backend,
    BackendError,
    BadRequestError,
    ContextTooLongError,
    Finish,
    OverloadedError,
    RateLimitedError,
    ReasoningDelta,
    Status,
    TextDelta,
    TruncatedStreamError,
    UpstreamError,
    UpstreamTimeoutError,
    Usage,
)
from inference.backends.base import ProviderKind as Kind
from inference.simulator import MODELS, Scenario, Simulator

from .support import (
    FINISH_RAW,
    KEY,
    LENGTH_RAW,
    PROMPT_WORDS,
    REQUEST,
    WIRES,
    base_url,
    collect,
    collect_until_error,
    make_backend,
)

pytestmark = pytest.mark.parametrize("kind", WIRES)


def backend_for(sim: Simulator, kind: Kind, **config: Any) -> Backend:
    return make_backend(kind, base_url(sim, kind), **config)


def streamed(sim: Simulator, kind: Kind) -> list[str]:
    return [r.wire for r in sim.requests if r.wire == kind]


# --- event sequences ---------------------------------------------------------------------------


async def test_plain_text(sim: Simulator, kind: Kind) -> None:
    sim.set("sim-model", Scenario(text="Hello brave new world"))
    events = await collect(backend_for(sim, kind))
    assert events == [
        TextDelta("Hello"),
        TextDelta(" brave"),
        TextDelta(" new"),
        TextDelta(" world"),
        Usage(input_tokens=PROMPT_WORDS, output_tokens=4),
        Finish("stop", FINISH_RAW[kind]),
    ]


async def test_reasoning_then_text(sim: Simulator, kind: Kind) -> None:
    sim.set("sim-model", Scenario(reasoning="Think first.", text="Answer."))
    events = await collect(backend_for(sim, kind))
    assert events == [
        ReasoningDelta("Think"),
        ReasoningDelta(" first."),
        TextDelta("Answer."),
        Usage(input_tokens=PROMPT_WORDS, output_tokens=3, reasoning_tokens=2),
        Finish("stop", FINISH_RAW[kind]),
    ]


async def test_usage_with_cached_and_reasoning_tokens(sim: Simulator, kind: Kind) -> None:
    scenario = Scenario(
        reasoning="Hm.",
        text="Ok.",
        input_tokens=1000,
        output_tokens=300,
        cached_tokens=600,
        reasoning_tokens=200,
    )
    sim.set("sim-model", scenario)
    events = await collect(backend_for(sim, kind))
    assert events[-2:] == [
        Usage(input_tokens=1000, output_tokens=300, cached_input_tokens=600, reasoning_tokens=200),
        Finish("stop", FINISH_RAW[kind]),
    ]


async def test_no_usage_event_when_the_host_reports_none(sim: Simulator, kind: Kind) -> None:
    sim.set("sim-model", Scenario(text="Hi there", include_usage=False))
    events = await collect(backend_for(sim, kind))
    assert events == [TextDelta("Hi"), TextDelta(" there"), Finish("stop", FINISH_RAW[kind])]


async def test_token_limit_finishes_with_length(sim: Simulator, kind: Kind) -> None:
    sim.set("sim-model", Scenario(text="one two three four"))
    request = dataclasses.replace(REQUEST, max_tokens=2)
    events = await collect(backend_for(sim, kind), request)
    assert events == [
        TextDelta("one"),
        TextDelta(" two"),
        Usage(input_tokens=PROMPT_WORDS, output_tokens=2),
        Finish("length", LENGTH_RAW[kind]),
    ]


async def test_unicode_line_separators_survive(sim: Simulator, kind: Kind) -> None:
    # The simulator writes raw UTF-8 (ensure_ascii=False): U+2028 arrives unescaped.
    pieces = ["a\u2028b", " c\u2029d", " \u00e9\u4e2d\U0001f600", "\r\n"]
    sim.set("sim-model", Scenario(chunks=pieces))
    events = await collect(backend_for(sim, kind))
    assert [e.text for e in events if isinstance(e, TextDelta)] == pieces


# --- what is sent ------------------------------------------------------------------------------


async def test_request_shape(sim: Simulator, kind: Kind) -> None:
    request = dataclasses.replace(REQUEST, temperature=0.5, max_tokens=100)
    await collect(backend_for(sim, kind), request)
    (record,) = sim.requests
    body, headers = record.body, record.headers
    assert KEY not in record.path
    if kind == "openai":
        assert record.path == "/v1/chat/completions"
        assert headers["authorization"] == f"Bearer {KEY}"
        assert body == {
            "model": "sim-model",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Say hello please"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": 100,
            "temperature": 0.5,
        }
    elif kind == "anthropic":
        assert record.path == "/v1/messages"
        assert headers["x-api-key"] == KEY
        assert headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in headers
        assert body == {
            "model": "sim-model",
            "messages": [{"role": "user", "content": "Say hello please"}],
            "stream": True,
            "system": "Be brief.",
            "max_tokens": 100,
            "temperature": 0.5,
        }
    else:
        assert record.path == "/v1beta/models/sim-model:streamGenerateContent"
        assert headers["x-goog-api-key"] == KEY
        assert body == {
            "contents": [{"role": "user", "parts": [{"text": "Say hello please"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"temperature": 0.5, "maxOutputTokens": 100},
        }


async def test_reasoning_request_options(sim: Simulator, kind: Kind) -> None:
    await collect(backend_for(sim, kind))
    await collect(backend_for(sim, kind), dataclasses.replace(REQUEST, reasoning_effort="high"))
    plain, reasoning = (r.body for r in sim.requests)
    if kind == "openai":
        assert "reasoning_effort" not in plain
        assert reasoning["reasoning_effort"] == "high"
    elif kind == "anthropic":
        assert plain["max_tokens"] == 4096 and "thinking" not in plain
        assert reasoning["thinking"] == {"type": "adaptive"}
        assert reasoning["output_config"] == {"effort": "high"}
    else:
        assert "generationConfig" not in plain
        assert reasoning["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}


# --- faults ------------------------------------------------------------------------------------


async def test_auth_failure_is_not_retried(sim: Simulator, kind: Kind, sleeps: list[float]) -> None:
    sim.set("sim-model", Scenario(fault="auth", fault_count=-1))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert events == []
    assert isinstance(error, AuthenticationError)
    assert error.status == 401
    assert len(streamed(sim, kind)) == 1 and sleeps == []


async def test_rate_limit_then_success_honours_retry_after(
    sim: Simulator, kind: Kind, sleeps: list[float]
) -> None:
    sim.set("sim-model", Scenario(text="Made it", fault="rate_limit", retry_after=1.5))
    events = await collect(backend_for(sim, kind))
    assert events == [
        Status("retrying", detail="rate limited; retrying in 1.5 s"),
        Status("waiting", detail="attempt 2"),
        TextDelta("Made"),
        TextDelta(" it"),
        Usage(input_tokens=PROMPT_WORDS, output_tokens=2),
        Finish("stop", FINISH_RAW[kind]),
    ]
    assert sleeps == [1.5]
    assert len(streamed(sim, kind)) == 2


async def test_rate_limit_always_gives_up_after_two_retries(
    sim: Simulator, kind: Kind, sleeps: list[float]
) -> None:
    sim.set("sim-model", Scenario(fault="rate_limit", fault_count=-1))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert isinstance(error, RateLimitedError) and error.status == 429
    # Each retry: "retrying" (why, and for how long), then "waiting" as the next attempt starts.
    assert [e.state for e in events if isinstance(e, Status)] == ["retrying", "waiting"] * 2
    assert len(events) == 4
    assert len(streamed(sim, kind)) == 3
    first, second = sleeps
    assert 0.375 <= first <= 0.5 and 0.75 <= second <= 1.0  # backoff with jitter


async def test_retry_after_over_a_minute_is_not_waited_for(
    sim: Simulator, kind: Kind, sleeps: list[float]
) -> None:
    sim.set("sim-model", Scenario(fault="rate_limit", retry_after=120))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert isinstance(error, RateLimitedError) and error.retry_after == 120
    assert events == [] and sleeps == []


@pytest.mark.parametrize(
    ("fault", "expected", "status"),
    [
        ("server_error", UpstreamError, 500),
        ("overloaded", OverloadedError, None),
        ("unavailable", OverloadedError, 503),
    ],
)
async def test_server_side_failures_are_retried_then_raised(
    sim: Simulator,
    kind: Kind,
    sleeps: list[float],
    fault: str,
    expected: type[BackendError],
    status: int | None,
) -> None:
    sim.set("sim-model", Scenario(fault=fault, fault_count=-1))
    _events, error = await collect_until_error(backend_for(sim, kind))
    assert type(error) is expected
    assert isinstance(error, BackendError)
    if status is not None:
        assert error.status == status
    assert len(streamed(sim, kind)) == 3 and len(sleeps) == 2


async def test_overloaded_once_then_success(
    sim: Simulator, kind: Kind, sleeps: list[float]
) -> None:
    sim.set("sim-model", Scenario(fault="overloaded"))
    events = await collect(backend_for(sim, kind))
    assert isinstance(events[0], Status) and events[0].detail.startswith("overloaded; retrying")
    assert isinstance(events[-1], Finish) and len(sleeps) == 1
    if kind == "anthropic":  # Anthropic says it with 529 and overloaded_error
        sim.set("sim-model", Scenario(fault="overloaded", fault_count=-1))
        _events, error = await collect_until_error(backend_for(sim, kind, max_retries=0))
        assert isinstance(error, OverloadedError) and error.status == 529
        assert error.provider_type == "overloaded_error"


async def test_bad_request_is_not_retried(sim: Simulator, kind: Kind, sleeps: list[float]) -> None:
    sim.set("sim-model", Scenario(fault="bad_request", fault_count=-1))
    _events, error = await collect_until_error(backend_for(sim, kind))
    assert type(error) is BadRequestError and error.status == 400
    assert len(streamed(sim, kind)) == 1


async def test_context_too_long(sim: Simulator, kind: Kind) -> None:
    sim.set("sim-model", Scenario(fault="context_too_long"))
    _events, error = await collect_until_error(backend_for(sim, kind))
    # Gemini has no structured type for it: a plain bad request.
    expected = BadRequestError if kind == "gemini" else ContextTooLongError
    assert type(error) is expected


async def test_error_event_after_a_token_is_not_retried(
    sim: Simulator, kind: Kind, sleeps: list[float]
) -> None:
    sim.set("sim-model", Scenario(fault="error_event", fault_after=1))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert events == [TextDelta("The")]
    expected = {"openai": UpstreamError, "anthropic": OverloadedError, "gemini": UpstreamError}
    assert type(error) is expected[kind]
    assert isinstance(error, BackendError) and "(in stream)" in error.message
    assert len(streamed(sim, kind)) == 1 and sleeps == []


async def test_error_event_before_any_token_is_retried(
    sim: Simulator, kind: Kind, sleeps: list[float]
) -> None:
    sim.set("sim-model", Scenario(fault="error_event", fault_after=0))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert [type(e) for e in events] == [Status] * 4
    assert isinstance(error, BackendError) and error.retryable
    assert len(streamed(sim, kind)) == 3


async def test_truncated_stream(sim: Simulator, kind: Kind, sleeps: list[float]) -> None:
    sim.set("sim-model", Scenario(fault="truncate", fault_after=2))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert events == [TextDelta("The"), TextDelta(" quick")]
    assert type(error) is TruncatedStreamError
    (record,) = sim.requests
    assert record.completed and not record.disconnected


async def test_truncated_after_every_piece(sim: Simulator, kind: Kind) -> None:
    sim.set("sim-model", Scenario(text="a b", fault="truncate", fault_after=5))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert events == [TextDelta("a"), TextDelta(" b")]
    assert type(error) is TruncatedStreamError


async def test_dropped_connection(sim: Simulator, kind: Kind, sleeps: list[float]) -> None:
    sim.set("sim-model", Scenario(fault="drop", fault_after=1))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert events == [TextDelta("The")]
    assert type(error) is TruncatedStreamError
    assert len(streamed(sim, kind)) == 1


async def test_malformed_chunk(sim: Simulator, kind: Kind, sleeps: list[float]) -> None:
    sim.set("sim-model", Scenario(fault="malformed", fault_after=1))
    events, error = await collect_until_error(backend_for(sim, kind))
    assert events == [TextDelta("The")]
    assert type(error) is UpstreamError and "malformed chunk" in error.message
    assert not error.retryable


async def test_stall_times_out_and_the_simulator_sees_the_client_leave(
    sim: Simulator, kind: Kind, sleeps: list[float]
) -> None:
    sim.set("sim-model", Scenario(fault="stall", fault_after=1))
    events, error = await collect_until_error(backend_for(sim, kind, read_timeout=0.3))
    assert events == [TextDelta("The")]
    assert type(error) is UpstreamTimeoutError and "no data for 0.3 s" in error.message
    assert sim.wait_for(lambda reqs: len(reqs) == 1 and reqs[0].disconnected, timeout=2)


async def test_total_timeout(sim: Simulator, kind: Kind) -> None:
    sim.set("sim-model", Scenario(text="one two three four five six", interval=0.1))
    backend = backend_for(sim, kind, total_timeout=0.25)
    events, error = await collect_until_error(backend)
    assert type(error) is UpstreamTimeoutError and "in total" in error.message
    assert 1 <= len(events) < 6


async def test_stopping_the_stream_disconnects_upstream(sim: Simulator, kind: Kind) -> None:
    sim.set("sim-model", Scenario(text="one two three four five six", interval=0.05))
    async with aclosing(backend_for(sim, kind).stream(REQUEST)) as events:
        async for event in events:
            assert event == TextDelta("one")
            break
    assert sim.wait_for(lambda reqs: reqs[0].disconnected and not reqs[0].completed, timeout=1)


async def test_connection_refused(kind: Kind, sleeps: list[float]) -> None:
    backend = make_backend(kind, "http://127.0.0.1:9", max_retries=1)
    events, error = await collect_until_error(backend)
    assert type(error) is UpstreamError and "could not connect" in error.message
    assert [type(e) for e in events] == [Status, Status] and len(sleeps) == 1


# --- secrets -----------------------------------------------------------------------------------


async def test_key_echoed_in_an_error_body_is_redacted(
    sim: Simulator, kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.set("sim-model", Scenario(fault="auth", echo_key=True, fault_count=-1))
    _events, error = await collect_until_error(backend_for(sim, kind))
    assert isinstance(error, AuthenticationError)
    assert "[redacted]" in error.message  # the key was echoed, and masked
    assert KEY not in str(error) and KEY not in repr(error) and KEY not in error.message
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert KEY not in "".join(traceback.format_exception(error))


async def test_key_never_in_retry_logs(
    sim: Simulator, kind: Kind, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.set("sim-model", Scenario(fault="rate_limit", fault_count=-1))
    await collect_until_error(backend_for(sim, kind))
    assert any("retry" in record.getMessage() for record in caplog.records)
    assert all(KEY not in record.getMessage() for record in caplog.records)


# --- model listing -----------------------------------------------------------------------------


async def test_list_models(sim: Simulator, kind: Kind) -> None:
    sim.set("extra-model", Scenario())
    models = await backend_for(sim, kind).list_models()
    assert models == sorted({*MODELS, "extra-model"})
    listings = [r for r in sim.requests if r.wire == "models"]
    # Anthropic and Gemini page (the simulator pages by two); Gemini drops sim-embedding.
    assert len(listings) == {"openai": 1, "anthropic": 2, "gemini": 3}[kind]
    assert all(KEY not in r.path for r in listings)


async def test_list_models_connection_refused(kind: Kind) -> None:
    backend = make_backend(kind, "http://127.0.0.1:9", max_retries=0)
    with pytest.raises(UpstreamError, match="could not connect"):
        await backend.list_models()
