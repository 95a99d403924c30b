"""The suite-run page's live progress: a socket at /ws/suites/<id>/ gets the units as they
finish, from a real db_worker through a real daphne (which learns of them from the
database), then the final figures once. One watch per run per process; owner only."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from inference.simulator import Scenario
from playground.suites import services
from playground.suites.fragments import eta_text
from playground.suites.models import SuiteUnit
from playground.suites.selectors import eta_seconds
from playground.suites.services import ModelSpec
from playground.suites.watch import current_watches
from tests.helpers import ws_connect
from tests.servers import Socket, session_cookie
from tests.suites.conftest import SUITE_FAST
from tests.suites.runs import create_run

CELL = re.compile(r'id="unit-(\d+)" data-status="([a-z]+)"')
FINISHED = re.compile(r'data-finished="(\d+)"')
FINAL = 'id="suite-results" class="suite-results" data-final="true"'

T0 = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC)


# --- the ETA ------------------------------------------------------------------------------


def test_eta_is_unknown_until_a_unit_finishes_and_none_when_nothing_is_left():
    assert eta_seconds(finished_at=[], started=T0, now=T0, remaining=5) is None
    assert eta_seconds(finished_at=[T0], started=None, now=T0, remaining=5) is None
    assert eta_seconds(finished_at=[T0], started=T0, now=T0, remaining=0) is None
    assert eta_text(None) == "unknown"


def test_eta_follows_the_observed_finish_rate():
    finishes = [T0 + dt.timedelta(seconds=s) for s in (2, 4, 6, 8)]
    # 4 finished in the 8 s since the start: 2 s each, 6 to go.
    assert eta_seconds(finished_at=finishes, started=T0, now=T0 + dt.timedelta(seconds=8),
                       remaining=6) == pytest.approx(12.0)  # fmt: skip
    # Nothing finished for a while: the rate falls, the estimate grows.
    assert eta_seconds(finished_at=finishes, started=T0, now=T0 + dt.timedelta(seconds=16),
                       remaining=6) == pytest.approx(24.0)  # fmt: skip


def test_eta_reads_only_the_recent_finishes():
    # A slow start (the first finish after 100 s), then one a second: the recent rate wins.
    finishes = [T0 + dt.timedelta(seconds=100 + s) for s in range(30)]
    now = T0 + dt.timedelta(seconds=129)
    eta = eta_seconds(finished_at=finishes, started=T0, now=now, remaining=10, window=20)
    assert eta == pytest.approx(10 * 20 / 20)  # 20 finishes in the 20 s since the 10th
    assert [eta_text(s) for s in (0.4, 42, 150, 3900)] == [
        "about 1 s", "about 42 s", "about 2 min", "about 1 h 5 min",
    ]  # fmt: skip


# --- in this process: who may follow, one watch per run ------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_only_the_owner_may_follow_and_one_watch_serves_every_socket(user, sim_models):
    suite_run = await sync_to_async(create_run)(user, models=[ModelSpec("sim:alpha")])
    path = f"/ws/suites/{suite_run.pk}/"
    other = await sync_to_async(get_user_model().objects.create_user)("eve", password="pw-e-1234")

    _, connected, code = await ws_connect(None, path=path)
    assert (connected, code) == (False, 4401)
    _, connected, code = await ws_connect(other, path=path)
    assert (connected, code) == (False, 4404)
    _, connected, code = await ws_connect(user, path="/ws/suites/999999/")
    assert (connected, code) == (False, 4404)
    _, connected, _ = await ws_connect(user, path=path, origin=b"http://evil.example")
    assert not connected

    first, connected, _ = await ws_connect(user, path=path)
    assert connected
    second, connected, _ = await ws_connect(user, path=f"{path}?since=bogus&volume=-3")
    assert connected
    watch = current_watches().get(suite_run.pk)
    assert watch is not None and watch.followers == 2
    for socket in (first, second):
        frame = await socket.receive_from(timeout=10)  # the catch-up: where the run is now
        assert 'id="suite-progress"' in frame and 'data-finished="0"' in frame
    await first.disconnect()
    assert current_watches().get(suite_run.pk) is watch and watch.followers == 1
    await second.disconnect()
    assert current_watches().get(suite_run.pk) is None  # the last socket left: it stopped


@pytest.mark.django_db(transaction=True)
async def test_logging_out_closes_the_suite_socket(user, sim_models):
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from playground.asgi import application

    suite_run = await sync_to_async(create_run)(user, models=[ModelSpec("sim:alpha")])
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    socket = WebsocketCommunicator(
        application, f"/ws/suites/{suite_run.pk}/", headers=[*headers, (b"cookie", cookie)]
    )
    assert (await socket.connect())[0]
    await sync_to_async(client.post)("/accounts/logout/")
    while True:
        message = await socket.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            assert message.get("code") == 4401
            break
    assert current_watches().get(suite_run.pk) is None  # it stopped following at once


# --- a real worker, a real daphne ----------------------------------------------------------


class SuiteSocket(Socket):
    """A websocket to a suite-run page's socket, as the page opens it."""

    def __init__(self, server, cookie: str, suite_run_id: int, query: str = "") -> None:
        super().__init__(server, cookie)
        self.path = f"/ws/suites/{suite_run_id}/{query}"

    async def __aenter__(self) -> SuiteSocket:
        self._ws = await websockets.connect(
            f"ws://127.0.0.1:{self.server.port}{self.path}",
            additional_headers={"Cookie": self.cookie, "Origin": self.server.url},
            max_size=None,
        )
        return self

    def cells(self, *, final: bool = False) -> dict[int, str]:
        """Each unit's latest state, from the frames before the final one (or all)."""
        found: dict[int, str] = {}
        for _, frame in self.log.frames:
            if FINAL in frame and not final:
                break
            found.update((int(unit), status) for unit, status in CELL.findall(frame))
        return found


def final_frames(socket: Socket) -> list[str]:
    return [frame for _, frame in socket.log.frames if FINAL in frame]


@pytest.mark.django_db(transaction=True)
async def test_units_arrive_as_they_finish_then_the_final_figures_once(
    user, sim, sim_models, servers, workers
):
    # All four units at once (the default concurrency): alpha answers at once, beta slowly,
    # so cells fill in while the run is still going.
    sim.set("alpha", Scenario(chunks=["alpha ", "yes"], input_tokens=10, output_tokens=20))
    sim.set("beta", Scenario(chunks=[f"b{i} " for i in range(10)], interval=0.25))
    suite_run = await sync_to_async(create_run)(
        user, models=[ModelSpec("sim:alpha"), ModelSpec("sim:beta")], repeats=1
    )
    assert suite_run.concurrency >= 4
    units = await sync_to_async(
        lambda: dict(SuiteUnit.objects.filter(suite_run=suite_run).values_list("pk", "model_name"))
    )()
    assert len(units) == 4
    server = await sync_to_async(servers)("suite-live", **SUITE_FAST)
    cookie = await sync_to_async(session_cookie)(user)
    since = f"?since={timezone.now().timestamp():.3f}"

    # Another user's socket is refused, and so is one without a login.
    other = await sync_to_async(get_user_model().objects.create_user)("eve", password="pw-e-1234")
    for stranger in (await sync_to_async(session_cookie)(other), ""):
        with pytest.raises(websockets.InvalidStatus):
            async with SuiteSocket(server, stranger, suite_run.pk):
                pass

    async with SuiteSocket(server, cookie, suite_run.pk, since) as page:
        await page.read_until(lambda log: bool(log.frames))  # caught up: nothing ran yet
        assert FINISHED.findall(page.log.frames[0][1]) == ["0"]
        # Now the worker starts it.
        await sync_to_async(services.suite_run_enqueue)(suite_run_id=suite_run.pk)
        worker = await sync_to_async(workers)("suite-live-worker")
        await page.read_until(lambda log: bool(final_frames(page)), timeout=90)

        # Before the final frame, units came as they finished: each alpha answer's cell, and
        # progress counts in between (not only the end).
        early = page.cells()
        alpha = {pk for pk, model in units.items() if model == "sim:alpha"}
        assert alpha <= {pk for pk, status in early.items() if status == "finished"}, (
            early, worker.log()[-2000:],
        )  # fmt: skip
        counts = [int(n) for _, frame in page.log.frames for n in FINISHED.findall(frame)]
        assert counts == sorted(counts)  # never backwards
        assert any(0 < n < 4 for n in counts), counts
        # The final frame: every cell finished, the figures, both charts, no cancel button.
        (final,) = final_frames(page)
        assert page.cells(final=True) == dict.fromkeys(units, "finished")
        assert final.count('class="strip-plot"') == 2
        assert '<div id="suite-cancel" hx-swap-oob="true"></div>' in final
        assert FINISHED.findall(final) == ["4"]
        assert 'data-status="done"' in final
        # Once: nothing follows the final frame.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(page._ws.recv(), timeout=1.5)
        assert len(final_frames(page)) == 1

    # A page opened before the end and reconnecting later gets the final figures at once.
    async with SuiteSocket(server, cookie, suite_run.pk, since) as again:
        await again.read_until(lambda log: bool(final_frames(again)))
        assert len(again.log.frames) == 1
