"""A closed socket leaves its runs streaming for the grace period; a page that attaches in
that time gets the board as it is and follows the rest. Real consumer, real upstream HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import time
from html.parser import HTMLParser

import pytest
from asgiref.sync import sync_to_async

from inference.simulator import Scenario
from playground.models import Run
from tests.helpers import FrameLog, compare_frame, read_until, run_ids, until, ws_connect
from tests.servers import Socket, redis_url, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

PIECES = [f"word{i} " for i in range(60)]
FULL = "".join(PIECES)


class _Board(HTMLParser):
    """The text of each streaming answer (`#t-<run>`) in a board frame."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[int, str] = {}
        self.classes: dict[int, str] = {}
        self._open: int | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if self._open is not None:
            self._depth += 1
            return
        element_id = found.get("id") or ""
        if element_id.startswith("t-"):
            self._open = int(element_id[2:])
            self.texts[self._open] = ""
            self.classes[self._open] = found.get("class") or ""
            self._depth = 0

    def handle_endtag(self, tag: str) -> None:
        if self._open is None:
            return
        if self._depth == 0:
            self._open = None
        else:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.texts[self._open] += data


def board(frame: str) -> _Board:
    parser = _Board()
    parser.feed(frame)
    return parser


def snapshot(log: FrameLog) -> str:
    frames = [f for _, f in log.frames if 'id="turns" hx-swap-oob="innerHTML"' in f]
    assert frames, "no board snapshot arrived"
    return frames[-1]


@pytest.fixture
def grace(settings):
    def set_grace(seconds: float) -> None:
        settings.PLAYGROUND = {
            **getattr(settings, "PLAYGROUND", {}),
            "reattach_grace_seconds": seconds,
        }

    return set_grace


async def test_a_reload_within_the_grace_period_goes_on_streaming(user, sim, sim_models, grace):
    grace(10.0)
    sim.set("alpha", Scenario(chunks=PIECES, interval=0.03))
    sim.set("beta", Scenario(chunks=PIECES, interval=0.03))
    first, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await first.send_to(text_data=compare_frame(["sim:alpha", "sim:beta"]))
    await read_until(first, log, lambda lg: len(run_ids(lg)) == 2)
    ids = run_ids(log)
    await read_until(first, log, lambda lg: all(len(lg.text.get(i, "")) > 30 for i in ids.values()))
    comparison_id = await sync_to_async(
        lambda: Run.objects.get(pk=ids["sim:alpha"]).comparison_id
    )()
    await first.disconnect()

    second, connected, _ = await ws_connect(user)
    assert connected
    again = FrameLog()
    await second.send_to(text_data=json.dumps({"action": "attach", "comparison": comparison_id}))
    await read_until(
        second, again, lambda lg: any('hx-swap-oob="innerHTML"' in f for _, f in lg.frames)
    )
    shown = board(snapshot(again))
    for run_id in ids.values():
        assert "streaming" in shown.classes[run_id]  # still live, with its text so far
        assert FULL.startswith(shown.texts[run_id]) and len(shown.texts[run_id]) >= 30
    await read_until(second, again, lambda lg: all(lg.finished(i) for i in ids.values()), 30)
    for run_id in ids.values():
        # What the page shows: the snapshot, then the deltas after it (no gap, no repeat);
        # then the final panel with all of it.
        streamed = shown.texts[run_id] + again.text.get(run_id, "")
        assert FULL.startswith(streamed) and len(streamed) > len(shown.texts[run_id])
        assert again.final_text[run_id] == FULL
    await second.disconnect()
    assert len(sim.requests) == 2  # the same upstream requests went on: nothing restarted
    runs = [run async for run in Run.objects.filter(pk__in=ids.values())]
    assert {run.status for run in runs} == {Run.Status.DONE}
    assert all(run.text == FULL for run in runs)


async def test_nobody_reattaching_stops_the_runs_after_the_grace_period(
    user, sim, sim_models, grace
):
    grace(1.0)
    sim.set("alpha", Scenario(chunks=PIECES * 10, interval=0.05))
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(communicator, log, lambda lg: bool(lg.text))
    (run_id,) = run_ids(log).values()
    await communicator.disconnect()
    closed_at = time.monotonic()
    assert await until(lambda: all(r.ended is not None for r in sim.requests), 30)
    (request,) = sim.requests
    assert request.disconnected and request.ended - closed_at >= 0.9  # the grace was kept
    stopped = sync_to_async(lambda: Run.objects.filter(pk=run_id, status="stopped").exists())
    for _ in range(300):
        if await stopped():
            break
        await asyncio.sleep(0.1)
    run = await sync_to_async(Run.objects.get)(pk=run_id)
    assert run.status == Run.Status.STOPPED
    assert run.text and FULL.startswith(run.text[: len(FULL)])


async def test_a_page_on_a_comparison_that_ended_meanwhile_shows_its_final_state(
    user, sim, sim_models, grace
):
    grace(5.0)
    sim.set("alpha", Scenario(text="Short and done."))
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 1)
    (run_id,) = run_ids(log).values()
    await read_until(communicator, log, lambda lg: lg.finished(run_id))
    await communicator.disconnect()
    comparison_id = await sync_to_async(lambda: Run.objects.get(pk=run_id).comparison_id)()

    # A page rendered while it streamed attaches after it ended: it gets the final panel.
    page, connected, _ = await ws_connect(user)
    assert connected
    seen = FrameLog()
    await page.send_to(text_data=json.dumps({"action": "attach", "comparison": comparison_id}))
    await read_until(page, seen, lambda lg: any("innerHTML" in f for _, f in lg.frames))
    assert seen.finished(run_id) and seen.final_text[run_id] == "Short and done."
    await page.disconnect()


async def test_attach_to_someone_elses_comparison_is_refused(
    user, other_user, sim, sim_models, grace
):
    grace(5.0)
    sim.set("alpha", Scenario(chunks=PIECES, interval=0.05))
    owner, _, _ = await ws_connect(user)
    log = FrameLog()
    await owner.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(owner, log, lambda lg: bool(lg.text))
    (run_id,) = run_ids(log).values()
    comparison_id = await sync_to_async(lambda: Run.objects.get(pk=run_id).comparison_id)()

    intruder, _, _ = await ws_connect(other_user)
    theirs = FrameLog()
    await intruder.send_to(text_data=json.dumps({"action": "attach", "comparison": comparison_id}))
    await read_until(intruder, theirs, lambda lg: bool(lg.notices()))
    assert "No such comparison" in theirs.notices()[0]
    assert not theirs.text and not theirs.contains("word1")
    await intruder.disconnect()
    await owner.disconnect()


async def test_a_follow_up_appends_its_turn_to_the_live_board(user, sim, sim_models, grace):
    sim.set("alpha", Scenario(text="First answer."))
    communicator, _, _ = await ws_connect(user)
    log = FrameLog()
    await communicator.send_to(text_data=compare_frame(["sim:alpha"]))
    await read_until(communicator, log, lambda lg: len(run_ids(lg)) == 1)
    (first_id,) = run_ids(log).values()
    await read_until(communicator, log, lambda lg: lg.finished(first_id))
    comparison_id = await sync_to_async(lambda: Run.objects.get(pk=first_id).comparison_id)()
    before = len(log.frames)
    await communicator.send_to(
        text_data=compare_frame(["sim:alpha"], prompt="And then?", comparison=str(comparison_id))
    )
    await read_until(communicator, log, lambda lg: any("Follow-up 1" in f for _, f in lg.frames))
    followup = next(f for _, f in log.frames[before:] if "Follow-up 1" in f)
    assert 'hx-swap-oob="beforeend:#turns"' in followup  # appended, the first turn stays
    assert 'id="turns" hx-swap-oob="innerHTML"' not in followup
    await communicator.disconnect()


def test_a_page_on_another_process_reattaches_through_the_channel_layer(
    user, sim, sim_models, servers
):
    """Two daphne processes on one database and one Redis: the tab reloads onto the other
    process, which follows the runs still streaming in the first."""
    url = redis_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("Redis is required in CI")
        pytest.skip("no Redis on this machine")
    sim.set("alpha", Scenario(chunks=PIECES, interval=0.08))
    env = {"REDIS_URL": url, "PLAYGROUND_REATTACH_GRACE_SECONDS": "20"}
    first, second = servers("cross-first", **env), servers("cross-second", **env)
    cookie = session_cookie(user)

    async def scenario() -> tuple[int, str, str, FrameLog]:
        async with Socket(first, cookie) as tab:
            await tab.send(json.loads(compare_frame(["sim:alpha"])))
            await tab.read_until(
                lambda lg: len(lg.text.get(next(iter(run_ids(lg).values()), 0), "")) > 20
            )
            (run_id,) = run_ids(tab.log).values()
        comparison_id = await asyncio.to_thread(lambda: Run.objects.get(pk=run_id).comparison_id)
        async with Socket(second, cookie) as reloaded:
            await reloaded.send({"action": "attach", "comparison": comparison_id})
            await reloaded.read_until(lambda lg: lg.finished(run_id), 60)
            frames = [f for _, f in reloaded.log.frames if 'id="turns"' in f]
            live_boards = [f for f in frames if "answer streaming" in f]
            return (
                run_id,
                frames[-1] if frames else "",
                live_boards[-1] if live_boards else "",
                reloaded.log,
            )

    run_id, _, live_board, log = asyncio.run(scenario())
    assert live_board, "the streaming process sent no live board"
    shown = board(live_board).texts[run_id]
    assert FULL.startswith(shown) and len(shown) > 20
    assert FULL.startswith(shown + log.text.get(run_id, ""))  # deltas crossed processes
    assert log.text.get(run_id), "no delta reached the other process"
    assert log.final_text[run_id] == FULL
    run = Run.objects.get(pk=run_id)
    assert run.status == Run.Status.DONE and run.text == FULL
    assert len(sim.requests) == 1
