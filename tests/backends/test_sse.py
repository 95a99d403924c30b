"""The byte-level event-stream reader (inference/backends/sse.py) and the lean read path:
framing per the WHATWG spec at every byte boundary, and events batched per chunk."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from httpx_sse import EventSource
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.backends import http
from inference.backends.api import read_events
from inference.backends.base import (
    BackendError,
    Event,
    Finish,
    TextDelta,
    UpstreamError,
    Usage,
)
from inference.backends.openai import ChatCompletionsParser
from inference.backends.sse import ServerSentEvent, SSEDecoder
from inference.simulator import Scenario, Simulator

from .support import REQUEST, collect, collect_until_error, make_backend


def decode(chunks: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    return [(e.event, e.data) for chunk in chunks for e in decoder.feed(chunk)]


STREAM = (
    b"\xef\xbb\xbf"  # a byte order mark, ignored
    b": a comment\r\n"
    b'data: {"a": "\xe2\x80\xa8 and \xc3\xa9"}\r\n\r\n'
    b"event: content_block_delta\n"
    b"data: one\n"
    b"data:two\n"
    b": a comment inside an event\n"
    b"data:  three\n\n"
    b"data: cr\rdata: only\r\r"
    b"\n\n\n"  # blank lines with nothing to dispatch
    b"unknown: field\n"
    b"data\n\n"  # a field name alone: data with an empty value
    b"event: ping\n\n"  # a type and no data: dispatched with empty data
    b"data: crlf\r\ndata: mixed\n\r\n"
    b"data: cut before its blank line\n"
)
EXPECTED = [
    ("message", '{"a": "\u2028 and \u00e9"}'),
    ("content_block_delta", "one\ntwo\n three"),
    ("message", "cr\nonly"),
    ("message", ""),
    ("ping", ""),
    ("message", "crlf\nmixed"),
]


def test_one_chunk() -> None:
    assert decode([STREAM]) == EXPECTED


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_split_at_every_pair_of_boundaries_near_the_line_ends() -> None:
    breaks = [i for i, byte in enumerate(STREAM) if byte in b"\r\n:"]
    cuts = sorted({c + d for c in breaks for d in (0, 1)} | {1, 2, 3})
    for a, b in itertools.combinations(cuts, 2):
        assert decode([STREAM[:a], STREAM[a:b], STREAM[b:]]) == EXPECTED, (a, b)


def test_byte_by_byte_with_empty_chunks() -> None:
    chunks = [STREAM[i : i + 1] for i in range(len(STREAM))]
    assert decode([b"", *itertools.chain.from_iterable((c, b"") for c in chunks)]) == EXPECTED


def test_a_cr_at_the_end_of_a_chunk_and_its_lf_in_the_next_are_one_break() -> None:
    assert decode([b"data: a\r", b"\n", b"\r", b"\ndata: b\r\n\r\n"]) == [
        ("message", "a"),
        ("message", "b"),
    ]


def test_a_final_event_without_its_blank_line_is_not_dispatched() -> None:
    # https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation:
    # "If the file ends in the middle of an event, before the final empty line, the
    # incomplete event is not dispatched."
    assert decode([b"data: complete\n\ndata: cut"]) == [("message", "complete")]
    assert decode([b"data: complete\n\ndata: cut\n"]) == [("message", "complete")]
    assert decode([b"data: complete\r\n\r\ndata: cut\r\n"]) == [("message", "complete")]
    # A lone CR is a whole line break: "\n\r" ends the line and then a blank line.
    assert decode([b"data: last\n\r"]) == [("message", "last")]


def test_several_events_in_one_chunk_come_out_of_one_call() -> None:
    decoder = SSEDecoder()
    chunk = b"".join(f"data: {i}\n\n".encode() for i in range(5)) + b"data: 5"
    assert [e.data for e in decoder.feed(chunk)] == ["0", "1", "2", "3", "4"]
    assert [e.data for e in decoder.feed(b"\n\n")] == ["5"]


def test_ids_and_retry() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 7\nretry: 1500\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\n")
    assert [(e.data, e.id, e.retry) for e in events] == [
        ("a", "7", 1500),
        ("b", "7", None),
        ("c", "7", None),
    ]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode([b"data: \xff\xfe ok\n\n"]) == [("message", "\ufffd\ufffd ok")]


async def test_sse_from_bytes_is_the_same_reader() -> None:
    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(STREAM), 3):
            yield STREAM[i : i + 3]

    assert [(e.event, e.data) async for e in http.sse_from_bytes(source())] == EXPECTED


# --- parsers: batches keep the order of the events, errors after the deltas before them ----


async def test_an_error_after_a_delta_in_the_same_chunk_comes_after_the_delta() -> None:
    errors = http.ErrorMapper("Test API", "sk-test")
    parser = ChatCompletionsParser(errors)
    out: list[Event] = []
    assert not parser.feed(
        ServerSentEvent("message", '{"choices":[{"delta":{"content":"a"}}]}'), out
    )
    assert out == [TextDelta("a")]
    with pytest.raises(UpstreamError):
        parser.feed(ServerSentEvent("message", "{nope"), out)

    async def events() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(
            "message", '{"choices":[{"delta":{"content":"a"}}],"x_groq":{"error":"x"}}'
        )

    seen: list[Event] = []
    with pytest.raises(BackendError):
        async for event in read_events(ChatCompletionsParser(errors), events()):
            seen.append(event)
    assert seen == [TextDelta("a")]


def chat_chunk(text: str) -> bytes:
    return b'data: {"choices":[{"delta":{"content":"' + text.encode() + b'"}}]}\n\n'


async def test_a_live_body_with_many_events_per_chunk(sim: Simulator) -> None:
    """The whole answer in one chunk, then split at odd sizes: the same events either way."""
    body = (
        b"".join(chat_chunk(w) for w in ("Hel", "lo", " there"))
        + b'data: {"choices":[{"delta":{},"finish_reason":"stop"}],'
        + b'"usage":{"prompt_tokens":3,"completion_tokens":3}}\r\n\r\n'
        + b"data: [DONE]\n\n"
    )
    expected = [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(" there"),
        Usage(input_tokens=3, output_tokens=3),
        Finish("stop", "stop"),
    ]
    for size in (None, 1, 7, 50):
        sim.set(REQUEST.model, Scenario(raw=body, raw_chunk_size=size))
        assert await collect(make_backend("openai", sim.openai_base_url)) == expected, size


async def test_a_200_answer_that_is_not_an_event_stream(sim: Simulator) -> None:
    sim.set(REQUEST.model, Scenario(raw=b"<html>hello</html>", raw_content_type="text/html"))
    events, error = await collect_until_error(make_backend("openai", sim.openai_base_url))
    assert events == [] and type(error) is UpstreamError
    assert "not an event stream" in error.message and not error.retryable


# --- the same events as httpx-sse, which the backends read through before -------------------

PIECES = st.sampled_from(
    [b"data:", b"data: ", b"event: x", b"event:", b"id: 1", b"retry: 5", b": c", b":", b"a",
     b" b", b"{}", b"\xc3\xa9", b"\xe2\x80", b"\xff", b"\r", b"\n", b"\r\n", b"\n\n", b"\r\n\r\n"]
)  # fmt: skip


async def httpx_sse_events(chunks: list[bytes]) -> list[tuple[str, str]]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())
    return [(e.event, e.data) async for e in EventSource(response).aiter_sse()]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(PIECES, max_size=40), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_the_same_events_with_data_as_httpx_sse(pieces: list[bytes], cuts: list[int]) -> None:
    raw = b"".join(pieces)
    points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    chunks = [raw[a:b] for a, b in itertools.pairwise(points)]
    ours = [event for event in decode(chunks) if event[1]]
    theirs = [event for event in asyncio.run(httpx_sse_events(chunks)) if event[1]]
    assert ours == theirs
