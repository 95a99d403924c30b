"""The local backend against a real (tiny, random) transformers model on the CPU."""

from __future__ import annotations

import asyncio
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
from tests.local.conftest import DEVICE, Step, TinyModel

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


NO_COMPILE = {"compile": "off"}  # for the tests that hook the forward pass (see conftest)


def assert_device_idle() -> None:
    assert local.device_workers(DEVICE).busy == 0, "a generation outlived its stream"
    gate = local.device_gate(DEVICE)
    assert (gate.running, gate.waiting) == (0, 0)


def runs(steps: list[Step]) -> list[tuple[int, int]]:
    """Each generation's prompt length and its number of decoding steps, in the order run."""
    found: list[tuple[int, int]] = []
    for step in steps:
        if step.tokens > 1 or not found:
            found.append((step.tokens, 0))
        else:
            found[-1] = (found[-1][0], found[-1][1] + 1)
    return found


def direct_greedy(tiny_model: TinyModel, request: ChatRequest) -> tuple[int, list[int], str]:
    """What transformers itself generates for the request: prompt length, new ids, text."""
    loaded = tiny_model.loaded()
    encoded = local.encode_prompt(loaded.tokenizer, request)
    inputs = {key: value.to(loaded.device) for key, value in encoded.items()}
    out = loaded.model.generate(
        **inputs, max_new_tokens=request.max_tokens, do_sample=False, pad_token_id=0
    )
    prompt_length = inputs["input_ids"].shape[-1]
    new_ids = out[0, prompt_length:].tolist()
    return prompt_length, new_ids, loaded.tokenizer.decode(new_ids, skip_special_tokens=True)


async def test_streams_status_text_usage_finish_in_order(tiny_model: TinyModel) -> None:
    local.unload_all()
    events = await collect(tiny_model.backend().stream(PROMPT))

    assert isinstance(events[0], Status) and events[0].state == "loading"
    assert events[1] == Status("generating", detail="")
    deltas = events[2:-2]
    assert deltas and all(isinstance(event, TextDelta) for event in deltas)
    assert isinstance(events[-2], Usage)
    assert events[-1] == Finish("length")

    again = await collect(tiny_model.backend().stream(PROMPT))
    assert again[0] == Status("generating", detail=""), "a cached model is not loaded again"


async def test_token_counts_are_exact(tiny_model: TinyModel) -> None:
    events = await collect(tiny_model.backend().stream(PROMPT))
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
        events = await collect(tiny_model.backend().stream(PROMPT))
    finally:
        config.eos_token_id = saved
    assert only(events, Usage)[0].output_tokens == stop_at + 1
    assert events[-1] == Finish("stop")


async def test_closing_the_stream_cancels_generate_within_a_step(
    tiny_model: TinyModel, forward_calls: list[Step]
) -> None:
    request = ChatRequest(model="tiny", messages=(Message("user", "go on"),), max_tokens=900)
    stream = tiny_model.backend(**NO_COMPILE).stream(request)
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
    tiny_model: TinyModel, forward_calls: list[Step]
) -> None:
    request = ChatRequest(model="tiny", messages=(Message("user", "go on"),), max_tokens=900)
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for event in tiny_model.backend(**NO_COMPILE).stream(request):
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
    tiny_model: TinyModel, forward_calls: list[Step]
) -> None:
    backend = tiny_model.backend(**NO_COMPILE)
    first = backend.stream(ChatRequest(model="tiny", messages=PROMPT.messages, max_tokens=60))
    await until_generating(first)

    second_events = asyncio.create_task(collect(backend.stream(PROMPT)))
    first_events = await collect(first)
    events = await second_events

    assert events[0] == Status("queued", position=1)
    assert events[1] == Status("generating", detail="")
    assert first_events[-1] == Finish("length") and events[-1] == Finish("length")
    # Every step of the first generation ran before the second's prefill, on the same thread.
    first_prompt = only(first_events, Usage)[0].input_tokens
    second_prompt = only(events, Usage)[0].input_tokens
    assert runs(forward_calls) == [(first_prompt, 59), (second_prompt, 23)]
    assert len({step.thread for step in forward_calls}) == 1
    assert_device_idle()


async def test_queue_positions_move_up(tiny_model: TinyModel) -> None:
    backend = tiny_model.backend()
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
    backend = tiny_model.backend()
    first = backend.stream(ChatRequest(model="tiny", messages=PROMPT.messages, max_tokens=200))
    assert await until_generating(first) == Status("generating", detail="")
    events = await collect(backend.stream(PROMPT))
    assert events[0] == Status("generating", detail=f"sharing {DEVICE} with 1 other run")
    await first.aclose()
    assert_device_idle()


async def test_usage_reports_busy_gpu_seconds(tiny_model: TinyModel) -> None:
    started = time.perf_counter()
    events = await collect(tiny_model.backend().stream(PROMPT))
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
    await collect(tiny_model.backend().stream(request))
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
        await collect(tiny_model.backend().stream(PROMPT))
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


def test_acceleration_is_on_by_default_on_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in (local.STATIC_CACHE_ENV, local.COMPILE_ENV, local.WARMUP_ENV):
        monkeypatch.delenv(env, raising=False)
    assert local.resolve_acceleration("cpu") == local.Acceleration()
    assert local.resolve_acceleration("mps") == local.Acceleration()
    fast = local.resolve_acceleration("cuda")
    assert (fast.static_cache, fast.compile, fast.warmup) == (True, True, True)
    assert fast.generate_kwargs() == {"cache_implementation": "static"}

    eager = local.resolve_acceleration("cuda", {"compile": "off"})
    assert (eager.static_cache, eager.compile, eager.warmup) == (True, False, False)
    assert eager.generate_kwargs() == {"cache_implementation": "static", "disable_compile": True}
    static_cpu = local.resolve_acceleration("cpu", {"static_cache": "on", "warmup": "on"})
    assert (static_cpu.static_cache, static_cpu.compile, static_cpu.warmup) == (True, False, True)
    assert local.resolve_acceleration("cuda", {"cache_length": "2048"}).cache_length == 2048

    monkeypatch.setenv(local.COMPILE_ENV, "0")
    assert not local.resolve_acceleration("cuda").compile
    monkeypatch.delenv(local.COMPILE_ENV)
    monkeypatch.setenv(local.CONCURRENCY_ENV, "2")  # shared devices keep the dynamic cache
    assert not local.resolve_acceleration("cuda").static_cache
    with pytest.raises(local.BadRequestError):
        local.resolve_acceleration("cuda", {"compile": "sometimes"})


async def test_the_static_cache_path_warms_up_and_gives_the_same_tokens(
    tiny_model: TinyModel,
) -> None:
    local.unload_all()
    backend = tiny_model.backend(static_cache="on", warmup="on", cache_length="256")
    events = await collect(backend.stream(PROMPT))
    loaded = tiny_model.loaded()
    assert loaded.warmup_seconds is not None and not loaded.warmup_error
    assert loaded.acceleration.static_cache and loaded.acceleration.cache_length == 256

    prompt_length, new_ids, text = direct_greedy(tiny_model, PROMPT)
    usage = only(events, Usage)[0]
    assert (usage.input_tokens, usage.output_tokens) == (prompt_length, len(new_ids))
    assert "".join(event.text for event in only(events, TextDelta)) == text
    assert events[-1] == Finish("length")
    local.unload_all()  # the other tests get the device's default load again


async def test_cancel_within_a_step_with_the_static_cache(
    tiny_model: TinyModel, forward_calls: list[Step]
) -> None:
    request = ChatRequest(model="tiny", messages=(Message("user", "go on"),), max_tokens=900)
    backend = tiny_model.backend(static_cache="on", **NO_COMPILE)
    stream = backend.stream(request)
    seen = 0
    async for event in stream:
        seen += isinstance(event, TextDelta)
        if seen == 3:
            break
    await stream.aclose()
    assert 3 <= len(forward_calls) < 100
    assert backend.partial_usage is not None
    assert backend.partial_usage.output_tokens == len(forward_calls)  # one token per step
    assert_device_idle()


async def test_generations_run_on_one_long_lived_worker_thread(
    tiny_model: TinyModel, forward_calls: list[Step]
) -> None:
    # CUDA graphs recorded by torch.compile belong to the thread that recorded them.
    backend = tiny_model.backend(**NO_COMPILE)
    for _ in range(3):
        await collect(backend.stream(PROMPT))
    threads = {step.thread for step in forward_calls}
    assert len(threads) == 1 and threads.pop().startswith(f"local-generate-{DEVICE}-")
    assert_device_idle()


async def test_a_failing_warm_up_falls_back_to_eager(
    tiny_model: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.backends.local import generation

    def broken(*_: object) -> None:
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(generation, "warm_up", broken)
    cached = tiny_model.loaded()
    fast = local.Acceleration(static_cache=True, warmup=True)
    adopted = local.adopt_model(
        "adopted-tiny", cached.model, cached.tokenizer, cached.device, cached.dtype, fast
    )
    assert "no compiler here" in adopted.warmup_error
    assert adopted.usable(fast) == local.Acceleration(cache_length=fast.cache_length)

    backend = tiny_model.backend(path="adopted-tiny", static_cache="on", warmup="on")
    events = await collect(backend.stream(PROMPT))
    assert events[0] == Status("generating", detail=""), "an adopted model is loaded already"
    assert only(events, Usage)[0].output_tokens == PROMPT.max_tokens
    local.unload_all()


def test_incremental_decoding_gives_the_full_decode(tiny_model: TinyModel) -> None:
    import random

    tokenizer = tiny_model.loaded().tokenizer
    rng = random.Random(7)
    for _ in range(20):
        ids = [rng.randrange(len(tokenizer)) for _ in range(rng.randrange(1, 40))]
        decoder = local.IncrementalDecoder(tokenizer)
        pieces, start = [], 0
        while start < len(ids):  # in batches of 1 to 3, as a busy event loop gets them
            size = rng.choice((1, 1, 2, 3))
            pieces.append(decoder.add(ids[start : start + size]))
            start += size
        pieces.append(decoder.flush())
        assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True)
