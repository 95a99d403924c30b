# ruff: noqa: E501  (wire transcripts are long lines on purpose)
"""Streams shaped as the providers document them, replayed byte for byte by the simulator's raw
mode through each backend, whole and split into tiny HTTP chunks; plus the variants that
OpenAI-compatible hosts (vLLM, Groq, ...) send.

- OpenAI: https://platform.openai.com/docs/api-reference/chat-streaming
- Anthropic: https://docs.anthropic.com/en/api/messages-streaming
- Gemini: https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent

The `...` and `…` the examples use to trim repeated fields are filled in with those fields.
"""

from __future__ import annotations

from typing import Any

import pytest

from inference.backends.base import (
    BackendError,
    BadRequestError,
    Event,
    Finish,
    OverloadedError,
    ProviderKind,
    RateLimitedError,
    ReasoningDelta,
    TextDelta,
    UpstreamError,
    Usage,
)
from inference.simulator import Scenario, Simulator

from .support import REQUEST, base_url, collect, collect_until_error, make_backend

CHUNK_SIZES = [None, 1, 7]


def sse(*payloads: str, crlf: bool = False) -> bytes:
    """`data:` events, one per payload (a payload starting with ':' is a comment line)."""
    end = "\r\n" if crlf else "\n"
    lines = [(p if p.startswith((":", "event:")) else f"data: {p}") + end + end for p in payloads]
    return "".join(lines).encode()


async def replay(
    sim: Simulator, kind: ProviderKind, raw: bytes, chunk_size: int | None, **config: Any
) -> list[Event]:
    sim.set(REQUEST.model, Scenario(raw=raw, raw_chunk_size=chunk_size))
    return await collect(make_backend(kind, base_url(sim, kind), **config))


async def replay_error(
    sim: Simulator, kind: ProviderKind, raw: bytes, chunk_size: int | None = None
) -> tuple[list[Event], BaseException | None]:
    sim.set(REQUEST.model, Scenario(raw=raw, raw_chunk_size=chunk_size))
    return await collect_until_error(make_backend(kind, base_url(sim, kind), max_retries=0))


# --- OpenAI (https://platform.openai.com/docs/api-reference/chat-streaming) -------------------

HEAD = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini",'
OPENAI_EXAMPLE = sse(
    HEAD
    + '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
    HEAD + '"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}',
    HEAD + '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
    HEAD + '"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,'
    '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
    '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
    '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}',
    "[DONE]",
)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
async def test_openai_example(sim: Simulator, chunk_size: int | None) -> None:
    events = await replay(sim, "openai", OPENAI_EXAMPLE, chunk_size)
    assert events == [
        TextDelta("Hello"),
        Usage(input_tokens=9, output_tokens=12),
        Finish("stop", "stop"),
    ]


# --- Anthropic (https://docs.anthropic.com/en/api/messages-streaming) -------------------------

ANTHROPIC_EXAMPLE = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me\xe2\x80\xa6"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB\xe2\x80\xa6"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":57}}

event: message_stop
data: {"type":"message_stop"}

"""


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
async def test_anthropic_example(sim: Simulator, chunk_size: int | None) -> None:
    events = await replay(sim, "anthropic", ANTHROPIC_EXAMPLE, chunk_size)
    assert events == [
        ReasoningDelta("Let me\u2026"),
        TextDelta("Hello"),
        Usage(input_tokens=11, output_tokens=57),
        Finish("stop", "end_turn"),
    ]


async def test_anthropic_cache_usage_and_unknown_events(sim: Simulator) -> None:
    raw = ANTHROPIC_EXAMPLE.replace(
        b'"cache_creation_input_tokens":0,"cache_read_input_tokens":0',
        b'"cache_creation_input_tokens":100,"cache_read_input_tokens":900',
    ).replace(
        b"event: ping\n",
        b'event: brand_new_event\ndata: {"type":"brand_new_event","x":1}\n\nevent: ping\n',
    )
    events = await replay(sim, "anthropic", raw, None)
    assert events[-2] == Usage(
        input_tokens=1011, output_tokens=57, cached_input_tokens=900, cache_write_tokens=100
    )


async def test_anthropic_overloaded_error_event(sim: Simulator) -> None:
    head, _, _ = ANTHROPIC_EXAMPLE.partition(b"event: content_block_stop")
    raw = head + (
        b"event: error\n"
        b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    events, error = await replay_error(sim, "anthropic", raw)
    assert events == [ReasoningDelta("Let me\u2026")]
    assert type(error) is OverloadedError
    assert error.message == "Anthropic API: overloaded (in stream): Overloaded"


# --- Gemini, CRLF (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent)

GEMINI_EXAMPLE = sse(
    '{"candidates":[{"content":{"parts":[{"text":"**Planning** \u2026","thought":true}],"role":"model"},"index":0}],'
    '"usageMetadata":{"promptTokenCount":8,"totalTokenCount":60,"thoughtsTokenCount":52},'
    '"modelVersion":"gemini-2.5-flash","responseId":"r1"}',
    '{"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"index":0}],'
    '"usageMetadata":{"promptTokenCount":8,"totalTokenCount":61,"thoughtsTokenCount":52},'
    '"modelVersion":"gemini-2.5-flash","responseId":"r1"}',
    '{"candidates":[{"content":{"parts":[{"text":" there."}],"role":"model"},"finishReason":"STOP","index":0}],'
    '"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":3,"thoughtsTokenCount":52,"totalTokenCount":63,'
    '"promptTokensDetails":[{"modality":"TEXT","tokenCount":8}]},'
    '"modelVersion":"gemini-2.5-flash","responseId":"r1"}',
    crlf=True,
)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
async def test_gemini_example_with_crlf(sim: Simulator, chunk_size: int | None) -> None:
    assert b"\r\n\r\n" in GEMINI_EXAMPLE and b"\n\n" not in GEMINI_EXAMPLE.replace(b"\r\n", b"")
    events = await replay(sim, "gemini", GEMINI_EXAMPLE, chunk_size)
    assert events == [
        ReasoningDelta("**Planning** \u2026"),
        TextDelta("Hello"),
        TextDelta(" there."),
        Usage(input_tokens=8, output_tokens=55, reasoning_tokens=52),
        Finish("stop", "STOP"),
    ]


async def test_gemini_blocked_prompt(sim: Simulator) -> None:
    raw = sse('{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}')
    events, error = await replay_error(sim, "gemini", raw)
    assert events == [] and type(error) is BadRequestError
    assert error.message == "Gemini API: bad request (prompt blocked: SAFETY)"


async def test_gemini_error_chunk_mid_stream(sim: Simulator) -> None:
    first, _, _ = GEMINI_EXAMPLE.partition(b"\r\n\r\n")
    raw = (
        first
        + b"\r\n\r\n"
        + sse(
            '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}',
            crlf=True,
        )
    )
    events, error = await replay_error(sim, "gemini", raw)
    assert events == [ReasoningDelta("**Planning** \u2026")]
    assert type(error) is OverloadedError and error.status == 503


async def test_gemini_safety_finish(sim: Simulator) -> None:
    raw = sse(
        '{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}]}',
        '{"candidates":[{"finishReason":"SAFETY","index":0}]}',
        crlf=True,
    )
    events = await replay(sim, "gemini", raw, None)
    assert events == [TextDelta("Hel"), Finish("content_filter", "SAFETY")]


# --- OpenAI-compatible hosts' variants ---------------------------------------------------------


def chunk(delta: str, finish: str | None = None, extra: str = "", head: str = HEAD) -> str:
    reason = f'"{finish}"' if finish else "null"
    return f'{head}"choices":[{{"index":0,"delta":{delta},"finish_reason":{reason}}}]{extra}}}'


VLLM = sse(
    chunk('{"role":"assistant","content":""}'),
    chunk('{"reasoning":"Think."}'),
    chunk('{"reasoning_content":null,"content":"Hi"}'),
    chunk("{}", "stop"),
    HEAD + '"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8,'
    '"prompt_tokens_details":{"cached_tokens":4}}}',
    "[DONE]",
)
VLLM_ERROR = sse(
    chunk('{"content":"Hi"}'),
    '{"error":{"message":"CUDA error","type":"InternalServerError","param":null,"code":500}}',
    "[DONE]",
)
GROQ_HEAD = (
    '{"id":"chatcmpl-g","object":"chat.completion.chunk","created":1,"model":"llama",'
    '"system_fingerprint":"fp_1",'
)
GROQ = sse(
    chunk('{"role":"assistant","content":""}', extra=',"x_groq":{"id":"req_1"}', head=GROQ_HEAD),
    chunk('{"reasoning":"Hmm."}', head=GROQ_HEAD),
    chunk('{"content":"Yo"}', head=GROQ_HEAD),
    chunk(
        "{}",
        "stop",
        extra=',"x_groq":{"id":"req_1","usage":{"queue_time":0.01,"prompt_tokens":7,'
        '"prompt_time":0.001,"completion_tokens":2,"completion_time":0.002,"total_tokens":9,'
        '"total_time":0.003}}',
        head=GROQ_HEAD,
    ),
    "[DONE]",
)
OPENROUTER = sse(
    ": OPENROUTER PROCESSING",
    ": OPENROUTER PROCESSING",
    chunk(
        '{"role":"assistant","content":"","reasoning":"Step 1.",'
        '"reasoning_details":[{"type":"reasoning.text","text":"Step 1."}]}'
    ),
    chunk('{"content":"Done"}'),
    chunk("{}", "stop"),
    HEAD + '"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30,'
    '"cost":0.00042,"cost_details":{"upstream_inference_cost":null},'
    '"prompt_tokens_details":{"cached_tokens":6},'
    '"completion_tokens_details":{"reasoning_tokens":15}}}',
    "[DONE]",
)
OPENROUTER_ERROR = sse(
    ": OPENROUTER PROCESSING",
    chunk('{"content":"Par"}'),
    '{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m",'
    '"error":{"code":502,"message":"Provider returned error"},'
    '"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}',
)
DEEPSEEK = sse(
    ": keep-alive",
    chunk('{"role":"assistant","content":null,"reasoning_content":""}'),
    chunk('{"content":null,"reasoning_content":"Wait,"}'),
    chunk('{"content":" 42","reasoning_content":null}'),
    chunk('{"content":"","reasoning_content":null}', "stop"),
    HEAD + '"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13,'
    '"prompt_tokens_details":{"cached_tokens":0},"prompt_cache_hit_tokens":3,'
    '"prompt_cache_miss_tokens":6,"completion_tokens_details":{"reasoning_tokens":2}}}',
    "[DONE]",
)
LLAMA_CPP = sse(
    chunk('{"role":"assistant","content":null}'),
    chunk('{"reasoning_content":"Hmm"}'),
    ": ping",
    chunk('{"content":"Yes"}'),
    chunk("{}", "stop", extra=',"timings":{"cache_n":2,"prompt_n":3,"predicted_n":2}'),
    HEAD + '"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,'
    '"prompt_tokens_details":{"cached_tokens":2}}}',
    "[DONE]",
)
OLLAMA = sse(
    chunk('{"role":"assistant","content":"","reasoning":"ok"}'),
    chunk('{"role":"assistant","content":"Sure"}'),
    chunk('{"role":"assistant","content":""}', "length"),
    HEAD + '"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}',
    "[DONE]",
)
TRANSFORMERS_SERVE = sse(
    chunk('{"role":"assistant","content":""}'),
    chunk('{"reasoning_content":"Thinking"}'),
    chunk('{"content":"Answer"}'),
    chunk(
        "{}",
        "stop",
        extra=',"usage":{"prompt_tokens":6,"completion_tokens":2,"total_tokens":8}',
    ),
)
TRANSFORMERS_SERVE_ERROR = sse(chunk('{"content":"Ans"}'), '{"error": "generation failed"}')

VARIANTS = {
    "vllm": (
        VLLM,
        [
            ReasoningDelta("Think."),
            TextDelta("Hi"),
            Usage(input_tokens=5, output_tokens=3, cached_input_tokens=4),
            Finish("stop", "stop"),
        ],
    ),
    "groq": (
        GROQ,
        [
            ReasoningDelta("Hmm."),
            TextDelta("Yo"),
            Usage(input_tokens=7, output_tokens=2),
            Finish("stop", "stop"),
        ],
    ),
    "openrouter": (
        OPENROUTER,
        [
            ReasoningDelta("Step 1."),
            TextDelta("Done"),
            Usage(input_tokens=10, output_tokens=20, cached_input_tokens=6, reasoning_tokens=15),
            Finish("stop", "stop"),
        ],
    ),
    "deepseek": (
        DEEPSEEK,
        [
            ReasoningDelta("Wait,"),
            TextDelta(" 42"),
            Usage(input_tokens=9, output_tokens=4, cached_input_tokens=3, reasoning_tokens=2),
            Finish("stop", "stop"),
        ],
    ),
    "llama.cpp": (
        LLAMA_CPP,
        [
            ReasoningDelta("Hmm"),
            TextDelta("Yes"),
            Usage(input_tokens=5, output_tokens=2, cached_input_tokens=2),
            Finish("stop", "stop"),
        ],
    ),
    "ollama": (
        OLLAMA,
        [
            ReasoningDelta("ok"),
            TextDelta("Sure"),
            Usage(input_tokens=4, output_tokens=2),
            Finish("length", "length"),
        ],
    ),
    "transformers-serve": (
        TRANSFORMERS_SERVE,
        [
            ReasoningDelta("Thinking"),
            TextDelta("Answer"),
            Usage(input_tokens=6, output_tokens=2),
            Finish("stop", "stop"),
        ],
    ),
}


@pytest.mark.parametrize("chunk_size", [None, 3])
@pytest.mark.parametrize("server", list(VARIANTS))
async def test_openai_compatible_variants(
    sim: Simulator, server: str, chunk_size: int | None
) -> None:
    raw, expected = VARIANTS[server]
    assert await replay(sim, "openai", raw, chunk_size) == expected


@pytest.mark.parametrize(
    ("raw", "expected", "text"),
    [
        (VLLM_ERROR, UpstreamError, "Hi"),
        (OPENROUTER_ERROR, UpstreamError, "Par"),
        (TRANSFORMERS_SERVE_ERROR, UpstreamError, "Ans"),
    ],
    ids=["vllm", "openrouter", "transformers-serve"],
)
async def test_openai_compatible_error_chunks(
    sim: Simulator, raw: bytes, expected: type[BackendError], text: str
) -> None:
    events, error = await replay_error(sim, "openai", raw)
    assert events == [TextDelta(text)]
    assert type(error) is expected
    assert "(in stream)" in error.message


async def test_groq_stream_error(sim: Simulator) -> None:
    raw = sse(
        chunk('{"content":"Hal"}', head=GROQ_HEAD),
        chunk("{}", "stop", extra=',"x_groq":{"id":"r","error":"over capacity"}', head=GROQ_HEAD),
    )
    events, error = await replay_error(sim, "openai", raw)
    assert events == [TextDelta("Hal")] and isinstance(error, BackendError)
    assert "over capacity" in error.message


async def test_stream_without_done_or_finish_is_truncated(sim: Simulator) -> None:
    events, error = await replay_error(sim, "openai", sse(chunk('{"content":"Hi"}')))
    assert events == [TextDelta("Hi")]
    assert isinstance(error, BackendError) and error.label == "truncated stream"


# --- HTTP error bodies -------------------------------------------------------------------------


async def test_http_error_bodies(sim: Simulator) -> None:
    cases: list[tuple[ProviderKind, int, bytes, type[BackendError]]] = [
        (
            "gemini",
            429,
            b'{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED",'
            b'"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":'
            b'[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},'
            b'{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}',
            RateLimitedError,
        ),
        (
            "openai",
            402,
            b'{"error":{"code":402,"message":"Insufficient credits"}}',
            BadRequestError,
        ),
        (
            "anthropic",
            529,
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},'
            b'"request_id":"req_1"}',
            OverloadedError,
        ),
    ]
    for kind, status, body, expected in cases:
        sim.set(REQUEST.model, Scenario(raw=body, raw_status=status))
        backend = make_backend(kind, base_url(sim, kind), max_retries=0)
        _events, error = await collect_until_error(backend)
        assert type(error) is expected, kind
        assert isinstance(error, BackendError) and error.status == status
    assert isinstance(error, BackendError) and error.provider_type == "overloaded_error"
    sim.set(REQUEST.model, Scenario(raw=cases[0][2], raw_status=429))
    _events, gemini_error = await collect_until_error(make_backend("gemini", sim.gemini_base_url))
    assert isinstance(gemini_error, RateLimitedError)
    assert gemini_error.retry_after == 37 and not gemini_error.retryable  # a daily quota


async def test_json_error_instead_of_a_stream(sim: Simulator) -> None:
    """Some gateways answer a stream request with a plain JSON error and status 200."""
    body = b'{"error":{"message":"model not loaded","type":"invalid_request_error"}}'
    sim.set(REQUEST.model, Scenario(raw=body, raw_content_type="application/json"))
    events, error = await collect_until_error(make_backend("openai", sim.openai_base_url))
    assert events == [] and type(error) is BadRequestError
    assert error.message == "OpenAI-compatible API: bad request (in stream): model not loaded"
