"""Through a real daphne started as `make run` starts the server: a websocket message just
over the playground's 1 MiB limit reaches the playground, which answers with its own
message (daphne's default limit would close the socket first, without a word)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from playground.conf import playground_settings
from tests.servers import Daphne

ROOT = Path(__file__).resolve().parents[2]


def make_run_ws_limits() -> list[str]:
    """The websocket options the Makefile's `run` target gives the server."""
    match = re.search(r"^WS_LIMITS := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "the Makefile sets WS_LIMITS"
    return match.group(1).split()


@pytest.fixture
def daphne_url(transactional_db: None) -> Iterator[str]:
    server = Daphne("frame-limit", args=make_run_ws_limits()).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_a_frame_just_over_the_limit_gets_the_playgrounds_message(
    daphne_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from websockets.asyncio.client import connect

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = get_user_model().objects.create_user("ada", password="pw-ada-123456")
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    limit = playground_settings().max_frame_bytes
    head = json.dumps({"action": "compare", "prompt": ""})[:-2]
    frame = head + "x" * (limit + 1 - len(head) - 2) + '"}'
    assert len(frame.encode()) == limit + 1

    async def exchange() -> list[str]:
        ws_url = daphne_url.replace("http://", "ws://") + "/ws/compare/"
        headers = {"Origin": daphne_url, "Cookie": cookie}
        async with connect(ws_url, additional_headers=headers, max_size=None) as ws:
            await ws.send(frame)
            received: list[str] = []
            deadline = time.monotonic() + 30
            while not any('id="notice"' in r for r in received):
                remaining = deadline - time.monotonic()
                assert remaining > 0, received
                received.append(str(await asyncio.wait_for(ws.recv(), remaining)))
            # The socket is still open and usable after the refusal.
            await ws.send(json.dumps({"action": "stop_all"}))
            return received

    received = asyncio.run(exchange())
    notice = next(r for r in received if 'id="notice"' in r)
    assert "too large" in notice and "the limit is" in notice
