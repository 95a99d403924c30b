"""The compare websocket end to end: real consumer and router, real HTTP to the simulator."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from inference.simulator import Scenario, Simulator
from playground.models import Comparison, Run, Turn
from tests.helpers import (
    FrameLog,
    compare_frame,
    read_until,
    run_ids,
    until,
    ws_connect,
)

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = " ".join(f"word{i}" for i in range(40))


def rows() -> tuple[int, int, int]:
    return Comparison.objects.count(), Turn.objects.count(), Run.objects.count()


async def start(user, models, **extra):
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(models, **extra))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == len(models))
    return communicator, log, run_ids(log)


async def test_three_models_stream_concurrently_one_fails_midway(user, sim: Simulator, sim_models):
    sim.set("alpha", Scenario(text=WORDS, interval=0.01))
    sim.set("claude-sim", Scenario(text=WORDS, interval=0.01, reasoning="Let me think."))
    sim.set("gemini-sim", Scenario(text=WORDS, interval=0.01, fault="error_event", fault_after=20))
    names = ["sim:alpha", "sima:claude-sim", "simg:gemini-sim"]
    communicator, log, ids = await start(user, names)
    await read_until(communicator, log, lambda lg: all(lg.finished(i) for i in ids.values()))
    await communicator.disconnect()

    # The panels grew at the same time: deltas of every panel arrived before any finished.
    first_final = min(t for t, f in log.frames if 'class="panel-foot"' in f)
    for run_id in ids.values():
        first_delta = min(t for t, f in log.frames if f'#t-{run_id}"' in f)
        assert first_delta < first_final
    # Streamed deltas are a prefix of the answer; the final panel carries all of it.
    assert WORDS.startswith(log.text[ids["sim:alpha"]])
    assert log.final_text[ids["sim:alpha"]] == WORDS
    assert log.reasoning[ids["sima:claude-sim"]] == "Let me think."

    runs = {r.model_name: r async for r in Run.objects.all()}
    alpha, claude, gemini = runs["sim:alpha"], runs["sima:claude-sim"], runs["simg:gemini-sim"]
    assert alpha.status == claude.status == Run.Status.DONE
    assert alpha.text == claude.text == WORDS
    assert claude.reasoning == "Let me think."
    assert gemini.status == Run.Status.ERROR
    assert gemini.text and WORDS.startswith(gemini.text)  # the partial text is kept
    assert gemini.error
    assert alpha.ttft_ms is not None and alpha.total_ms is not None
    assert alpha.total_ms >= alpha.ttft_ms
    assert alpha.tokens_per_s and alpha.tokens_per_s > 0
    assert alpha.tokens_estimated is False and alpha.output_tokens
    assert alpha.cost is not None and alpha.cost_source == Run.CostSource.PROVIDER
    assert claude.answer_ttft_ms is not None and claude.ttft_ms is not None
    assert claude.answer_ttft_ms >= claude.ttft_ms
    assert gemini.tokens_estimated is True and gemini.cost_source == Run.CostSource.ESTIMATED
    # Every panel finished, so the summary came with bars.
    assert log.contains('class="summary"') and log.contains("<rect")


async def test_stop_one_panel_keeps_partial_text_and_others_finish(user, sim, sim_models):
    sim.set("alpha", Scenario(text=WORDS, interval=0.05))
    sim.set("beta", Scenario(text="short answer", interval=0.01))
    communicator, log, ids = await start(user, ["sim:alpha", "sim:beta"])
    alpha = ids["sim:alpha"]
    await read_until(communicator, log, lambda lg: len(lg.text.get(alpha, "")) > 10)
    await communicator.send_to(text_data=json.dumps({"action": "stop", "run": str(alpha)}))
    await read_until(communicator, log, lambda lg: all(lg.finished(i) for i in ids.values()))
    assert sim.wait_for(lambda reqs: any(r.model == "alpha" and r.disconnected for r in reqs), 30)
    await communicator.disconnect()

    stopped = await sync_to_async(Run.objects.get)(pk=alpha)
    assert stopped.status == Run.Status.STOPPED
    assert 0 < len(stopped.text) < len(WORDS) and WORDS.startswith(stopped.text)
    assert stopped.tokens_estimated and (stopped.output_tokens or 0) > 0
    assert stopped.cost is not None and stopped.cost > 0
    beta = await sync_to_async(Run.objects.get)(pk=ids["sim:beta"])
    assert beta.status == Run.Status.DONE and beta.text == "short answer"


async def test_retry_reruns_only_that_panel(user, sim, sim_models):
    sim.set("alpha", Scenario(text="alpha answer"))
    sim.set("beta", Scenario(fault="server_error", fault_count=-1))
    communicator, log, ids = await start(user, ["sim:alpha", "sim:beta"])
    await read_until(communicator, log, lambda lg: all(lg.finished(i) for i in ids.values()))
    failed = await sync_to_async(Run.objects.get)(pk=ids["sim:beta"])
    assert failed.status == Run.Status.ERROR

    sim.set("beta", Scenario(text="beta works now"))
    alpha_requests = len([r for r in sim.requests if r.model == "alpha"])
    await communicator.send_to(text_data=json.dumps({"action": "retry", "run": str(failed.pk)}))

    def new_panel(lg: FrameLog) -> int | None:
        for frame in lg.parsed:
            for run_id, _, model in frame.panels:
                if model == "sim:beta" and run_id != failed.pk:
                    return run_id
        return None

    await read_until(communicator, log, lambda lg: new_panel(lg) is not None)
    assert log.contains(f'hx-swap-oob="outerHTML:#run-{failed.pk}"')
    new_id = new_panel(log)
    assert new_id is not None
    await read_until(communicator, log, lambda lg: lg.finished(new_id))
    new = await sync_to_async(Run.objects.filter(superseded=False, model_name="sim:beta").get)()
    assert new.pk == new_id
    await communicator.disconnect()

    new = await sync_to_async(Run.objects.get)(pk=new.pk)
    old = await sync_to_async(Run.objects.get)(pk=failed.pk)
    assert new.status == Run.Status.DONE, new.error
    assert new.text == "beta works now" and new.attempt == 2
    assert old.superseded and old.status == Run.Status.ERROR
    assert new.position == old.position and new.turn_id == old.turn_id
    assert len([r for r in sim.requests if r.model == "alpha"]) == alpha_requests  # not re-run


async def test_disconnect_cancels_every_upstream_request(user, sim, sim_models):
    for name in ("alpha", "beta", "claude-sim", "gemini-sim"):
        sim.set(name, Scenario(text=WORDS * 5, interval=0.05))
    names = ["sim:alpha", "sim:beta", "sima:claude-sim", "simg:gemini-sim"]
    communicator, log, ids = await start(user, names)
    await read_until(communicator, log, lambda lg: all(lg.text.get(i) for i in ids.values()))
    await communicator.disconnect()
    # Each answer would take 10 s more; the client left, so each request was cut short.
    assert sim.wait_for(
        lambda reqs: sum(1 for r in reqs if r.disconnected and r.ended is not None) == 4, 30
    ), "the simulator did not see every upstream request closed"
    assert not any(r.completed for r in sim.requests)

    async def all_saved() -> bool:
        statuses = [s async for s in Run.objects.values_list("status", flat=True)]
        return all(s == Run.Status.STOPPED for s in statuses)

    for _ in range(50):
        if await all_saved():
            break
        await asyncio.sleep(0.05)
    stopped = [run async for run in Run.objects.all()]
    assert {r.status for r in stopped} == {Run.Status.STOPPED}
    assert all(r.text for r in stopped)


async def test_follow_up_each_model_sees_only_its_own_answers(user, sim, sim_models):
    sim.set("alpha", Scenario(text="alpha says A"))
    sim.set("beta", Scenario(text="beta says B"))
    communicator, log, ids = await start(user, ["sim:alpha", "sim:beta"], prompt="First?")
    await read_until(communicator, log, lambda lg: all(lg.finished(i) for i in ids.values()))
    comparison = await sync_to_async(Comparison.objects.get)()
    await communicator.send_to(
        text_data=json.dumps(
            {"action": "compare", "prompt": "And then?", "comparison": str(comparison.pk)}
        )
    )
    await read_until(
        communicator,
        log,
        lambda lg: (
            len(run_ids(lg)) >= 2 and sum(1 for _, f in lg.frames if 'class="panel-foot"' in f) >= 4
        ),
    )
    await communicator.disconnect()

    second = [
        r for r in sim.requests if r.body.get("messages", [{}])[-1].get("content") == "And then?"
    ]
    assert len(second) == 2
    for request in second:
        contents = [m["content"] for m in request.body["messages"]]
        own = "alpha says A" if request.model == "alpha" else "beta says B"
        other = "beta says B" if request.model == "alpha" else "alpha says A"
        assert contents == ["First?", own, "And then?"]
        assert other not in contents
    turns = [t async for t in Turn.objects.filter(comparison=comparison).order_by("index")]
    assert [t.prompt for t in turns] == ["First?", "And then?"]
    assert await sync_to_async(Run.objects.filter(comparison=comparison).count)() == 4


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"prompt": "   ", "models": ["sim:alpha"]}, "Write a prompt first"),
        ({"prompt": "hi", "models": ["sim:alpha"] * 9}, "at most 8 panels"),
        ({"prompt": "hi", "models": ["sim:nope"]}, "Unknown model"),
        ({"prompt": "hi", "models": []}, "Pick at least one model"),
        ({"prompt": "x" * 200_001, "models": ["sim:alpha"]}, "the limit is 200,000"),
        ({"prompt": "hi", "models": ["sim:alpha"], "colour": "red"}, "Unknown field"),
        ({"prompt": {"nested": 1}, "models": ["sim:alpha"]}, "must be text"),
        ({"prompt": "hi", "models": ["sim:alpha"], "temperature": "hot"}, "temperature"),
        ({"action": "explode"}, "Unknown action"),
        ({"action": "stop", "run": "abc"}, "must be a number"),
    ],
)
async def test_bad_requests_get_a_clear_error_and_write_nothing(user, sim_models, payload, message):
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=json.dumps(payload))
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    assert message in log.notices()[0]
    assert await sync_to_async(rows)() == (0, 0, 0)
    # The socket stays usable.
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 1)
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("x" * (1024 * 1024 + 1), "too large"),
    ],
)
async def test_malformed_frames(user, sim_models, frame, message):
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=frame)
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    assert message in log.notices()[0]
    await communicator.send_to(bytes_data=b"\x00\x01")
    await read_until(communicator, log, lambda lg: len(lg.notices()) == 2)
    assert "text frames" in log.notices()[1]
    assert await sync_to_async(rows)() == (0, 0, 0)
    await communicator.disconnect()


async def test_disabled_model_is_refused(user, sim_models):
    sim_models["beta"].enabled = False
    await sync_to_async(sim_models["beta"].save)()
    communicator, _, _ = await ws_connect(user)
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha", "sim:beta"]))
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    assert "sim:beta" in log.notices()[0]
    assert await sync_to_async(rows)() == (0, 0, 0)
    await communicator.disconnect()


async def test_anonymous_socket_is_refused_before_accept(db):
    communicator, connected, _ = await ws_connect(None)
    assert not connected
    await communicator.disconnect()


async def test_foreign_origin_is_refused(user):
    communicator, connected, _ = await ws_connect(user, origin=b"https://evil.example")
    assert not connected
    await communicator.disconnect()


async def test_closing_the_tab_while_the_comparison_is_being_saved(
    user, sim, sim_models, monkeypatch
):
    """The upstream requests go out before the rows are written; a tab closed in between
    still cancels them at once, and the rows, once written, record the runs as stopped."""
    from playground import services

    real_save = services.plan_save

    cut_before_saved: list[bool] = []

    def slow_save(*, plan):
        # The rows are written only once the upstream requests are seen cut: the cancel
        # did not wait for the database.
        cut_before_saved.append(
            sim.wait_for(lambda reqs: len(reqs) == 2 and all(r.disconnected for r in reqs), 30)
        )
        real_save(plan=plan)

    monkeypatch.setattr(services, "plan_save", slow_save)
    sim.set("alpha", Scenario(text=WORDS * 5, interval=0.05))
    sim.set("beta", Scenario(text=WORDS * 5, interval=0.05))
    communicator, connected, _ = await ws_connect(user)
    assert connected
    await communicator.send_to(text_data=compare_frame(["sim:alpha", "sim:beta"]))
    assert await until(lambda: len(sim.requests) == 2)  # requested before any row exists
    assert await sync_to_async(Run.objects.count, thread_sensitive=False)() == 0
    await communicator.disconnect(timeout=5)
    assert await until(lambda: all(r.disconnected for r in sim.requests), 30)
    assert not any(r.completed for r in sim.requests)  # cut short, not streamed to the end
    assert await until(lambda: bool(cut_before_saved), 30) and cut_before_saved == [True]
    statuses = [s async for s in Run.objects.values_list("status", flat=True)]
    assert statuses == [Run.Status.STOPPED, Run.Status.STOPPED]


async def test_a_deeply_nested_frame_gets_a_notice_and_the_streams_go_on(user, sim, sim_models):
    sim.set("alpha", Scenario(text=WORDS, interval=0.02))
    communicator, log, ids = await start(user, ["sim:alpha"])
    await communicator.send_to(text_data="[" * 100_000 + "]" * 100_000)
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    assert "too deeply nested" in log.notices()[0]
    # The socket and its stream went on: the answer finishes whole.
    await read_until(communicator, log, lambda lg: lg.finished(ids["sim:alpha"]), 30)
    assert log.final_text[ids["sim:alpha"]] == WORDS
    await communicator.disconnect()
