"""The local backend against a real (tiny, random) transformers model on the CPU."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest

from inference.backends import local
from inference.backends.base import (
    ChatRequest,
    Event,
    Finish,
    Message,
    Status,
    TextDelta,
    UpstreamError,
    Usage,
)
from tests.local.conftest import TinyModel

pytestmark = pytest.mark.local

PROMPT = ChatRequest(
    model="tiny",
    messages=(Message("user", "how fast is the model"),),
    system="answer briefly",
    max_tokens=24,
)


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


def only(events: list[Event], kind: type) -> list:
    return [event for event in events if isinstance(event, kind)]


async def until_generating(stream: AsyncIterator[Event]) -> Status:
    """Consume the statuses before generation (loading, when it is the first use)."""
    async for event in stream:
        if isinstance(event, Status) and event.state == "generating":
            return event
    raise AssertionError("the stream ended before generating")


def generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("local-generate")]


def assert_device_idle() -> None:
    for thread in generation_threads():
        thread.join(timeout=2)
    assert not generation_threads(), "a generate thread outlived its stream"
    gate = local.device_gate("cpu")
    assert (gate.running, gate.waiting) == (0, 0)


def direct_greedy(tiny_model: TinyModel, request: ChatRequest) -> tuple[int, list[int], str]:
    """What transformers itself generates for the request: prompt length, new ids, text."""
    loaded = tiny_model.loaded()
    inputs = local.encode_prompt(loaded.tokenizer, request)
    out = loaded.model.generate(
        **inputs, max_new_tokens=request.max_tokens, do_sample=False, pad_token_id=0
    )
    prompt_length = inputs["input_ids"].shape[-1]
    new_ids = out[0, prompt_length:].tolist()
    return prompt_length, new_ids, loaded.tokenizer.decode(new_ids, skip_special_tokens=True)


async def test_streams_status_text_usage_finish_in_order(tiny_model: TinyModel) -> None:
    local.unload_all()
    events = await collect(tiny_model.backend(device="cpu").stream(PROMPT))

    assert isinstance(events[0], Status) and events[0].state == "loading"
    assert events[1] == Status("generating", detail="")
    deltas = events[2:-2]
    assert deltas and all(isinstance(event, TextDelta) for event in deltas)
    assert isinstance(events[-2], Usage)
    assert events[-1] == Finish("length")

    again = await collect(tiny_model.backend(device="cpu").stream(PROMPT))
    assert again[0] == Status("generating", detail=""), "a cached model is not loaded again"


async def test_token_counts_are_exact(tiny_model: TinyModel) -> None:
    events = await collect(tiny_model.backend(device="cpu").stream(PROMPT))
    usage = only(events, Usage)[0]
    tokenizer = tiny_model.loaded().tokenizer

    rendered = tokenizer.apply_chat_template(
        local.conversation(PROMPT), add_generation_prompt=True, tokenize=False
    )
    assert usage.input_tokens == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    prompt_length, new_ids, text = direct_greedy(tiny_model, PROMPT)
    assert usage.input_tokens == prompt_length
    assert usage.output_tokens == len(new_ids) == PROMPT.max_tokens
    assert "".join(event.text for event in only(events, TextDelta)) == text


async def test_eos_ends_with_stop_and_is_counted(tiny_model: TinyModel) -> None:
    _, new_ids, _ = direct_greedy(tiny_model, PROMPT)
    stop_at = new_ids.index(new_ids[5])  # make a token the model really emits act as EOS
    config = tiny_model.loaded().model.generation_config
    saved = config.eos_token_id
    config.eos_token_id = new_ids[stop_at]
    try:
        events = await collect(tiny_model.backend(device="cpu").stream(PROMPT))
    finally:
        config.eos_token_id = saved
    assert only(events, Usage)[0].output_tokens == stop_at + 1
    assert events[-1] == Finish("stop")


async def test_closing_the_stream_cancels_generate_within_a_step(
    tiny_model: TinyModel, forward_calls: list[str]
) -> None:
    request = ChatRequest(model="tiny", messages=(Message("user", "go on"),), max_tokens=900)
    stream = tiny_model.backend(device="cpu").stream(request)
    seen = 0
    async for event in stream:
        seen += isinstance(event, TextDelta)
        if seen == 3:
            break
    await stream.aclose()  # what a stop button or a closed tab comes down to

    steps = len(forward_calls)
    assert 3 <= steps < 100, f"generate ran on for {steps} of 900 steps"
    assert_device_idle()
    await asyncio.sleep(0.05)
    assert len(forward_calls) == steps


async def test_cancelling_the_consuming_task_cancels_generate(
    tiny_model: TinyModel, forward_calls: list[str]
) -> None:
    request = ChatRequest(model="tiny", messages=(Message("user", "go on"),), max_tokens=900)
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for event in tiny_model.backend(device="cpu").stream(request):
            if isinstance(event, TextDelta):
                first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert len(forward_calls) < 100
    assert_device_idle()


async def test_second_request_queues_until_the_first_ends(
    tiny_model: TinyModel, forward_calls: list[str]
) -> None:
    backend = tiny_model.backend(device="cpu")
    first = backend.stream(ChatRequest(model="tiny", messages=PROMPT.messages, max_tokens=60))
    await until_generating(first)

    second_events = asyncio.create_task(collect(backend.stream(PROMPT)))
    first_events = await collect(first)
    events = await second_events

    assert events[0] == Status("queued", position=1)
    assert events[1] == Status("generating", detail="")
    assert first_events[-1] == Finish("length") and events[-1] == Finish("length")
    # Every step of the first generation ran before any step of the second.
    threads = [
        name for i, name in enumerate(forward_calls) if i == 0 or forward_calls[i - 1] != name
    ]
    assert len(forward_calls) == 60 + 24 and len(threads) == 2
    assert_device_idle()


async def test_queue_positions_move_up(tiny_model: TinyModel) -> None:
    backend = tiny_model.backend(device="cpu")
    running = backend.stream(ChatRequest(model="tiny", messages=PROMPT.messages, max_tokens=40))
    await until_generating(running)
    second = backend.stream(PROMPT)
    third = backend.stream(PROMPT)
    assert await anext(second) == Status("queued", position=1)
    assert await anext(third) == Status("queued", position=2)

    await second.aclose()  # leaving the queue moves the third up
    assert await anext(third) == Status("queued", position=1)
    await collect(running)
    rest = await collect(third)
    assert rest[0] == Status("generating", detail="") and rest[-1] == Finish("length")
    assert_device_idle()


async def test_concurrent_runs_are_labelled(
    tiny_model: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(local.CONCURRENCY_ENV, "2")
    backend = tiny_model.backend(device="cpu")
    first = backend.stream(ChatRequest(model="tiny", messages=PROMPT.messages, max_tokens=200))
    assert await until_generating(first) == Status("generating", detail="")
    events = await collect(backend.stream(PROMPT))
    assert events[0] == Status("generating", detail="sharing cpu with 1 other run")
    await first.aclose()
    assert_device_idle()


async def test_usage_reports_busy_gpu_seconds(tiny_model: TinyModel) -> None:
    started = time.perf_counter()
    events = await collect(tiny_model.backend(device="cpu").stream(PROMPT))
    wall = time.perf_counter() - started
    usage = only(events, Usage)[0]
    assert usage.gpu_seconds is not None and 0 < usage.gpu_seconds <= wall


async def test_the_event_loop_keeps_running_while_generating(tiny_model: TinyModel) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    request = ChatRequest(model="tiny", messages=PROMPT.messages, max_tokens=200)
    await collect(tiny_model.backend(device="cpu").stream(request))
    done.set()
    await ticker
    assert len(gaps) > 10 and max(gaps) < 0.5


async def test_a_failing_generate_raises_a_backend_error_and_frees_the_device(
    tiny_model: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model.loaded().model

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the device fell over")

    monkeypatch.setattr(model, "generate", broken)
    with pytest.raises(UpstreamError, match="the device fell over"):
        await collect(tiny_model.backend(device="cpu").stream(PROMPT))
    assert_device_idle()


async def test_list_models_names_the_configured_model(tiny_model: TinyModel) -> None:
    assert await tiny_model.backend().list_models() == [tiny_model.path.name]
    assert await tiny_model.backend(name="tiny").list_models() == ["tiny"]


def test_device_and_dtype_choice() -> None:
    assert local.resolve_device("auto") in {"cuda", "mps", "cpu"}
    assert local.resolve_device("cpu") == "cpu"
    assert local.resolve_dtype("cpu") == "float32"
    assert local.resolve_dtype("cpu", "bfloat16") == "bfloat16"
    with pytest.raises(local.BadRequestError):
        local.resolve_device("tpu")
