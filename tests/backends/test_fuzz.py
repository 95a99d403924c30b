"""Property tests: whatever bytes arrive, each backend's stream reader either finishes or raises
one of our own `BackendError`s; never a KeyError, TypeError or UnicodeError."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.backends import anthropic, gemini, http, openai
from inference.backends.base import BackendError, Event, Finish

READERS: dict[str, Callable[..., AsyncIterator[Event]]] = {
    "openai": openai.read_stream,
    "anthropic": anthropic.read_stream,
    "gemini": gemini.read_stream,
}
MAPPER = http.ErrorMapper("Fuzz API", "sk-fuzz")
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

KEYS = st.sampled_from(
    [
        "choices", "delta", "content", "reasoning", "reasoning_content", "finish_reason",
        "usage", "prompt_tokens", "completion_tokens", "prompt_tokens_details",
        "cached_tokens", "completion_tokens_details", "reasoning_tokens", "x_groq", "error",
        "message", "type", "code", "status", "details", "candidates", "parts", "text",
        "thought", "finishReason", "usageMetadata", "promptTokenCount",
        "candidatesTokenCount", "thoughtsTokenCount", "promptFeedback", "blockReason",
        "index", "stop_reason", "input_tokens", "output_tokens", "thinking",
        "cache_read_input_tokens", "output_tokens_details", "@type", "retryDelay",
    ]
)  # fmt: skip
WORDS = st.sampled_from(
    [
        "text_delta", "thinking_delta", "message_start", "message_delta", "message_stop",
        "content_block_delta", "error", "overloaded_error", "STOP", "stop", "[DONE]",
        "UNAVAILABLE", "37s", "\u2028",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 10**9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | WORDS
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
EVENT_NAMES = st.sampled_from(
    [None, "message_start", "content_block_delta", "message_delta", "message_stop", "error", "ping"]
)
LINE_ENDS = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    """Plausible SSE: events with provider-like JSON, comments, terminators, mixed line ends."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        end = draw(LINE_ENDS)
        if draw(st.booleans()) and (name := draw(EVENT_NAMES)):
            parts.append(f"event: {name}{end}")
        if draw(st.integers(0, 9)) == 0:
            parts.append(f": keep-alive{end}")
        payload = draw(JSON | st.just("[DONE]") | st.text(max_size=12))
        data = payload if payload == "[DONE]" else json.dumps(payload, ensure_ascii=False)
        parts.append(f"data: {data}{end}{end}")
    raw = "".join(parts).encode()
    cut = draw(st.integers(0, len(raw)))
    return raw[:cut] if draw(st.booleans()) else raw


def split(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    return [raw[a:b] for a, b in itertools.pairwise(points)]


def consume(kind: str, chunks: list[bytes]) -> tuple[list[Event], BackendError | None]:
    """The events read, and the BackendError that ended them (anything else fails the test)."""

    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def run() -> tuple[list[Event], BackendError | None]:
        events: list[Event] = []
        try:
            async for event in READERS[kind](http.sse_from_bytes(source()), MAPPER):
                events.append(event)
        except BackendError as error:
            assert "sk-fuzz" not in error.message
            return events, error
        return events, None

    events, error = asyncio.run(run())
    # Never a silent success: a stream that ends without an error ends with Finish.
    assert error is not None or isinstance(events[-1], Finish)
    return events, error


@FUZZ
@given(kind=st.sampled_from(list(READERS)), chunks=st.lists(st.binary(max_size=40), max_size=12))
def test_random_bytes_raise_only_backend_errors(kind: str, chunks: list[bytes]) -> None:
    consume(kind, chunks)


@FUZZ
@given(
    kind=st.sampled_from(list(READERS)),
    raw=sse_streams(),
    cuts=st.lists(st.integers(0, 10_000), max_size=6),
)
def test_plausible_and_truncated_streams_raise_only_backend_errors(
    kind: str, raw: bytes, cuts: list[int]
) -> None:
    consume(kind, split(raw, cuts))


@FUZZ
@given(kind=st.sampled_from(list(READERS)), cut=st.integers(0, 2_000))
def test_every_truncation_of_a_real_stream_is_an_error_or_complete(kind: str, cut: int) -> None:
    from .test_transcripts import ANTHROPIC_EXAMPLE, GEMINI_EXAMPLE, OPENAI_EXAMPLE

    raw = {"openai": OPENAI_EXAMPLE, "anthropic": ANTHROPIC_EXAMPLE, "gemini": GEMINI_EXAMPLE}[kind]
    cut %= len(raw) + 1
    _events, error = consume(kind, [raw[:cut]])
    # OpenAI: once finish and usage are in, only [DONE] is missing; Gemini: a final "\r" is
    # already a line end.
    complete_from = {"openai": raw.find(b"data: [DONE]"), "gemini": len(raw) - 1}.get(
        kind, len(raw)
    )
    assert (error is None) == (cut >= complete_from)
